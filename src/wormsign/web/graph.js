/* wormsign web: the propagation graph (cytoscape, text labels only): layered by generation and
 * time (layout.js), attacked hosts in groups that expand, focus on a host's lineage, search,
 * filters, and a replay that touches only the elements whose time it crosses. */
// -- graph and replay ----------------------------------------------------------------
function colourOf(h, colours) {
  if (h.state === "infected") {
    var g = colours.generations || ["#c0392b"], n = typeof h.generation === "number" ? h.generation : g.length - 1;
    return g[Math.min(Math.max(n, 0), g.length - 1)];
  }
  return colours[h.state] || colours.clean || "#aaa";
}
function graphOpts() { return config.graph || {}; }
function hostNode(r, p, colours) {
  var t = r.state === "infected" ? r.t : null;
  return { group: "nodes", position: { x: p.x, y: p.y }, classes: r.state,
    data: { id: "h" + r.idx, kind: "host", hidx: r.idx, host: r.host.slice(0, 200), label: text(r.host).slice(0, 60),
      state: r.state, colour: colourOf({ state: r.state, generation: r.gen }, colours), t: t === null ? -Infinity : t,
      infected: r.state === "infected" } };
}
function drawGraph(inc) {
  var box = document.getElementById("graph"), colours = state.view.colours || {}, opts = graphOpts();
  if (state.cy) { state.cy.destroy(); state.cy = null; }
  state.model = null; state.focus = null;
  if (typeof window.cytoscape !== "function") {
    clear(box).appendChild(el("p", "empty", "graph library not bundled: run scripts/build-web.sh"));
    return;
  }
  var m = graphModel(inc, state.view, opts), pos = layout(m, box.clientWidth / Math.max(1, box.clientHeight)), elements = [], idx = 0;
  // Text that stays readable when the whole drawing fits the panel.
  var scale = Math.max(1, m.width / Math.max(200, box.clientWidth)), fs = Math.round(12 * scale);
  m.byIdx = [];
  m.hosts.forEach(function (r) { r.idx = idx++; m.byIdx.push(r); });
  state.model = m;
  m.hosts.forEach(function (r) { if (!r.group) elements.push(hostNode(r, pos.get(hostKey(r)), colours)); });
  var maxGroup = Math.max.apply(null, m.groups.map(function (g) { return g.members.length; }).concat([1]));
  m.groups.forEach(function (g) {
    var p = pos.get(g.id), size = Math.round(m.groupStep * (0.2 + 0.3 * Math.log(1 + g.members.length) / Math.log(1 + maxGroup)));
    elements.push({ group: "nodes", position: { x: p.x, y: p.y }, classes: "group",
      data: { id: g.id, kind: "group", label: g.label, colour: colours.attacked || "#f0ad4e", size: size, t: -Infinity,
        n: g.members.length, fs: Math.min(fs, Math.round(m.groupStep / 9)), tw: Math.round(m.groupStep * 0.95) } });
  });
  m.rows.forEach(function (row, i) {
    elements.push({ group: "nodes", position: { x: -m.width / 2 - 30 - fs, y: row.y }, classes: "rowlabel", selectable: false, grabbable: false,
      data: { id: "r" + i, kind: "label", label: row.label, fs: fs, tw: 40 * fs } });
  });
  var large = m.hosts.size + m.edges.length >= (Number(opts.large) || 1500);
  m.edges.forEach(function (x) {
    var e = x.e;
    elements.push({ group: "edges", classes: large ? "bulk" : "", data: { id: "e" + x.i, source: nodeIdOf(x.s), target: nodeIdOf(x.t), idx: x.i,
      label: large ? "" : (Array.isArray(e.techniques) ? e.techniques : [e.method]).map(function (v) { return text(v); }).join(" ").slice(0, 60) + "\n" + short(e.ts).slice(5, 16),
      t: x.time === null ? -Infinity : x.time } });
  });
  state.cy = window.cytoscape({
    container: box, elements: elements, layout: { name: "preset", padding: 20 },
    minZoom: 0.005, maxZoom: 4, motionBlur: false, pixelRatio: large ? 1 : "auto",
    hideEdgesOnViewport: large, textureOnViewport: large,
    style: graphStyle(large)
  });
  state.large = large;
  document.getElementById("all-edges").checked = !large;
  if (state.cy.zoom() > 1.5) { state.cy.zoom(1.5); state.cy.center(); }  // a few hosts: not blown up
  state.cy.on("tap", "node", function (evt) {
    var n = evt.target, kind = n.data("kind");
    if (kind === "group") { toggleGroup(n.id()); return; }
    if (kind === "host") { var host = state.model.byIdx[n.data("hidx")].host; focusHost(host); selectHost(host); }
  });
  state.cy.on("tap", "edge", function (evt) { selectEdge(inc.edges[evt.target.data("idx")]); });
  state.cy.on("tap", function (evt) { if (evt.target === state.cy && state.focus) focusHost(null); });
  window.wormsign.cy = state.cy;
  prepareReplay();
  legend(colours);
  filterControls(inc);
  replayTo(Number(document.getElementById("time-slider").value), true);
  state.cy.one("render", function () { box.dataset.rendered = "1"; });
  box.dataset.groups = String(m.groups.length);
}
function nodeIdOf(r) { return r.group && !r.group.expanded ? r.group.id : "h" + r.idx; }
function graphStyle(large) {
  return [
    { selector: "node", style: { "background-color": "data(colour)", label: "data(label)", "font-size": 10,
      "min-zoomed-font-size": 7, "text-valign": "bottom", "text-wrap": "ellipsis", "text-max-width": 110, width: 18, height: 18 } },
    { selector: "node.group", style: { shape: "round-rectangle", width: "data(size)", height: "data(size)", "border-width": 2,
      "border-color": "#b07a1e", "font-size": "data(fs)", "text-max-width": "data(tw)", "text-wrap": "wrap", "min-zoomed-font-size": 5 } },
    { selector: "node.rowlabel", style: { "background-opacity": 0, width: 1, height: 1, "text-valign": "center", "text-halign": "left",
      "font-size": "data(fs)", "min-zoomed-font-size": 4, color: "#444", "text-max-width": "data(tw)", events: "no" } },
    { selector: "edge", style: large
      ? { "curve-style": "haystack", "haystack-radius": 0, width: 1, "line-color": "#999", opacity: 0.7 }
      : { "curve-style": "bezier", "target-arrow-shape": "triangle", width: 1.5, "line-color": "#999", "target-arrow-color": "#999",
        label: "data(label)", "font-size": 7, "min-zoomed-font-size": 6, "text-wrap": "wrap", "text-max-width": 160,
        "text-rotation": "autorotate", color: "#555" } },
    { selector: "edge.bulk", style: { display: "none" } },
    { selector: "edge.hit, edge.lineage", style: { display: "element" } },
    { selector: ".future", style: { opacity: 0.12 } },
    { selector: "edge.future", style: { display: "none" } },
    { selector: ".dim", style: { opacity: 0.07 } },
    { selector: ".faded", style: { opacity: 0.1 } },
    { selector: ".lineage", style: { opacity: 1, "z-index": 10 } },
    { selector: "edge.lineage", style: { width: 2.5, "line-color": "#333", "target-arrow-color": "#333" } },
    { selector: "node.lineage", style: { "min-zoomed-font-size": 2 } },
    { selector: ":selected", style: { "border-width": 3, "border-color": "#000", "line-color": "#000" } }
  ];
}
// -- groups of attacked hosts -----------------------------------------------------------
function toggleGroup(id, quiet) {
  var m = state.model, cy = state.cy, colours = state.view.colours || {};
  var g = m && m.groups.filter(function (x) { return x.id === id; })[0];
  if (!g || !cy) return;
  cy.batch(function () {
    if (!g.expanded) {
      var pos = expandLayout(m, g);
      g.expanded = true;
      cy.add(g.members.map(function (r) { return hostNode(r, pos.get(r.host), colours); }));
      cy.getElementById(g.id).addClass("expanded").style("border-style", "dashed");
    } else {
      g.expanded = false;
      cy.remove(cy.collection(g.members.map(function (r) { return cy.getElementById("h" + r.idx); })));
      cy.getElementById(g.id).removeClass("expanded").style("border-style", "solid");
    }
  });
  document.getElementById("graph").dataset.expanded = String(m.groups.filter(function (x) { return x.expanded; }).length);
  restyle();
  if (!quiet) showGroup(g);
}
function showGroup(g) {
  var facts = [["hosts", g.members.length], ["grouped by", g.key], ["shown", g.expanded ? "expanded (click the group again to collapse)" : "collapsed (click to expand)"]];
  showEvidence("Group " + text(g.label), facts, []).then(function () {
    var list = document.getElementById("evidence-list");
    table(list, ["host", "address", "families"], g.members.map(function (r) { return { item: r.host, cells: [r.host, r.addr, r.h.families] }; }),
      function (h) { revealHost(h); });
  });
}
/** Make a host visible (expanding its group), centre it, focus its lineage and show its evidence. */
function revealHost(host) {
  var m = state.model, cy = state.cy, r = m && m.hosts.get(host);
  if (!r || !cy) return;
  if (r.group && !r.group.expanded) toggleGroup(r.group.id, true);
  var n = cy.getElementById("h" + r.idx);
  cy.zoom(Math.max(cy.zoom(), 1.2));
  cy.center(n);
  cy.elements().unselect();
  n.select();
  focusHost(host);
  selectHost(host);
}
// -- focus and context, filters ---------------------------------------------------------
function focusHost(host) {
  state.focus = host && state.model ? lineage(state.model, host) : null;
  restyle();
}
/** Classes from focus (lineage sharp, the rest faded) and filters (non-matching dimmed). */
function restyle(filterChanged) {
  var cy = state.cy, m = state.model, box = document.getElementById("graph");
  if (!cy || !m) return;
  var f = state.filter, match = filterActive(f) ? applyFilters(m, f) : null, focus = state.focus;
  var shownHosts = 0;
  cy.batch(function () {
    cy.nodes().forEach(function (n) {
      var kind = n.data("kind"), host = n.data("host"), ok = true, sharp = true;
      if (kind === "label") return;
      if (kind === "group") {
        var g = m.groups.filter(function (x) { return x.id === n.id(); })[0];
        if (match) ok = g.members.some(function (r) { return match.hosts.has(r.host); });
        if (focus) sharp = false;
      } else {
        if (match) ok = match.hosts.has(host);
        if (focus) sharp = focus.hosts.has(host);
      }
      n.toggleClass("dim", !ok); n.toggleClass("faded", ok && !sharp); n.toggleClass("lineage", !!focus && sharp);
    });
    cy.edges().forEach(function (e) {
      var i = e.data("idx"), ok = !match || match.edges.has(i), sharp = !focus || focus.edges.has(i);
      e.toggleClass("dim", !ok); e.toggleClass("faded", ok && !sharp); e.toggleClass("lineage", !!focus && sharp);
      e.toggleClass("hit", !!match && ok);
    });
  });
  if (match) shownHosts = match.hosts.size;
  box.dataset.filterHosts = match ? String(shownHosts) : "";
  box.dataset.filterEdges = match ? String(match.edges.size) : "";
  box.dataset.focus = focus ? String(focus.hosts.size) : "";
  var line = document.getElementById("filter-count");
  if (line) line.textContent = match ? shownHosts + " hosts and " + match.edges.size + " infections match" : "";
  state.match = match;
  if (filterChanged && state.incident) renderHosts(state.incident);
}
function filterControls(inc) {
  var m = state.model, fams = new Set(), techs = new Set();
  (inc.families || []).forEach(function (f) { if (f && typeof f.family === "string") fams.add(f.family); });
  m.hosts.forEach(function (r) { (Array.isArray(r.h.families) ? r.h.families : []).forEach(function (v) { if (typeof v === "string") fams.add(v); }); });
  m.edges.forEach(function (x) {
    (Array.isArray(x.e.techniques) ? x.e.techniques : []).forEach(function (t) { if (typeof t === "string") techs.add(t); });
    if (typeof x.e.method === "string") techs.add(x.e.method);
  });
  var names = state.view.attack || {};
  fillSelect("filter-family", Array.from(fams).sort(), "any family", function (v) { return v; });
  fillSelect("filter-technique", Array.from(techs).sort(), "any technique", function (v) { return own(names, v) ? v + " " + own(names, v) : v; });
  ["filter-hash", "filter-from", "filter-to", "graph-find"].forEach(function (id) { document.getElementById(id).value = ""; });
  clear(document.getElementById("find-hits"));
  state.filter = readFilter();
  restyle(false);
}
function fillSelect(id, values, none, label) {
  var s = clear(document.getElementById(id)), o = el("option", null, none);
  o.value = ""; s.appendChild(o);
  values.slice(0, 500).forEach(function (v) { var x = el("option", null, label(v)); x.value = v; s.appendChild(x); });
}
function utc(v) { if (!v) return null; var t = Date.parse(v.length === 16 ? v + ":00Z" : v + "Z"); return isNaN(t) ? null : t; }
function readFilter() {
  var hash = document.getElementById("filter-hash").value.trim().toLowerCase().slice(0, 128);
  return { family: document.getElementById("filter-family").value, technique: document.getElementById("filter-technique").value,
    hash: /^[0-9a-f]{4,}$/.test(hash) ? hash : "", from: utc(document.getElementById("filter-from").value), to: utc(document.getElementById("filter-to").value) };
}
function setHashFilter(sha) {
  document.getElementById("filter-hash").value = sha;
  state.filter = readFilter();
  restyle(true);
  document.getElementById("graph-panel").scrollIntoView({ block: "start" });
}
function findHits() {
  var box = clear(document.getElementById("find-hits")), m = state.model;
  if (!m) return [];
  var hits = findHosts(m, document.getElementById("graph-find").value, 20);
  hits.forEach(function (r) {
    var b = el("button", "hit", r.host + (r.group ? " (" + r.group.key + ")" : "") + " · " + r.state);
    b.type = "button";
    b.addEventListener("click", function () { revealHost(r.host); });
    box.appendChild(b);
  });
  if (!hits.length && document.getElementById("graph-find").value.trim()) box.appendChild(el("span", "empty", "no host matches"));
  return hits;
}
function wireGraphControls() {
  ["filter-family", "filter-technique", "filter-from", "filter-to"].forEach(function (id) {
    document.getElementById(id).addEventListener("change", function () { state.filter = readFilter(); restyle(true); });
  });
  document.getElementById("filter-hash").addEventListener("input", function () { state.filter = readFilter(); restyle(true); });
  document.getElementById("filter-clear").addEventListener("click", function () {
    ["filter-family", "filter-technique", "filter-hash", "filter-from", "filter-to"].forEach(function (id) { document.getElementById(id).value = ""; });
    state.filter = readFilter(); state.focus = null; restyle(true);
  });
  var find = document.getElementById("graph-find");
  find.addEventListener("input", findHits);
  find.addEventListener("keydown", function (e) {
    if (e.key !== "Enter") return;
    e.preventDefault();
    var hits = findHits();
    if (hits.length) revealHost(hits[0].host);
  });
  document.getElementById("fit").addEventListener("click", function () { if (state.cy) state.cy.fit(undefined, 20); });
  document.getElementById("all-edges").addEventListener("change", function (e) {
    if (state.cy) state.cy.edges().toggleClass("bulk", !e.target.checked);
  });
}
// -- replay: elements sorted by time; a move of the slider toggles only those it crosses --
function lowerCount(times, t) {  // how many of the sorted times are <= t
  var lo = 0, hi = times.length;
  while (lo < hi) { var mid = (lo + hi) >> 1; if (times[mid] <= t) lo = mid + 1; else hi = mid; }
  return lo;
}
function prepareReplay() {
  var cy = state.cy, nodes = [], edges = [], times = [];
  cy.nodes().forEach(function (n) { if (n.data("infected")) nodes.push(n); });
  cy.edges().forEach(function (e) { edges.push(e); });
  function byT(a, b) { return a.data("t") - b.data("t"); }
  nodes.sort(byT); edges.sort(byT);
  nodes.forEach(function (n) { if (isFinite(n.data("t"))) times.push(n.data("t")); });
  edges.forEach(function (e) { if (isFinite(e.data("t"))) times.push(e.data("t")); });
  times.sort(function (a, b) { return a - b; });
  state.times = times;
  state.rp = { nodes: nodes, nt: nodes.map(function (n) { return n.data("t"); }), edges: edges,
    et: edges.map(function (e) { return e.data("t"); }), kn: nodes.length, ke: edges.length };
}
function replayTo(v, full) {
  var cy = state.cy, rp = state.rp, g = document.getElementById("graph"), label = document.getElementById("time-label");
  if (!cy || !rp) return;
  var times = state.times, t = Infinity;
  if (times.length) t = times[0] + (times[times.length - 1] - times[0]) * v / 1000;
  var kn = lowerCount(rp.nt, t), ke = lowerCount(rp.et, t);
  function move(list, from, to) {
    var lo = Math.min(from, to), hi = Math.max(from, to);
    for (var i = lo; i < hi; i++) list[i].toggleClass("future", i >= to);
  }
  cy.batch(function () {
    if (full) { move(rp.nodes, 0, kn); move(rp.nodes, rp.nodes.length, kn); move(rp.edges, 0, ke); move(rp.edges, rp.edges.length, ke); }
    else { move(rp.nodes, rp.kn, kn); move(rp.edges, rp.ke, ke); }
  });
  rp.kn = kn; rp.ke = ke;
  g.dataset.visibleInfected = String(kn);
  g.dataset.visibleEdges = String(ke);
  label.textContent = (isFinite(t) ? new Date(t).toISOString().replace(".000Z", "Z") : "") + " · " + kn + " of " + rp.nodes.length + " hosts infected";
}
function legend(colours) {
  var lg = clear(document.getElementById("legend"));
  (colours.generations || []).forEach(function (c, i) { var s = el("span", null, "generation " + i); var dot = el("i"); dot.style.background = c; s.insertBefore(dot, s.firstChild); lg.appendChild(s); });
  ["attacked", "source"].forEach(function (k) { var s = el("span", null, k); var dot = el("i"); dot.style.background = colours[k]; s.insertBefore(dot, s.firstChild); lg.appendChild(s); });
  if (state.model && state.model.groups.length) lg.appendChild(el("span", null, "▢ group of attacked hosts (click to expand)"));
}
function play() {
  var s = document.getElementById("time-slider"), start = null, span = (Number(graphOpts().replay_s) || 5) * 1000;
  if (state.playing) return;
  state.playing = true;
  function frame(now) {
    if (start === null) start = now;
    var v = Math.min(1000, Math.round((now - start) / span * 1000));
    s.value = String(v); replayTo(v);
    if (v < 1000) requestAnimationFrame(frame); else state.playing = false;
  }
  requestAnimationFrame(frame);
}
