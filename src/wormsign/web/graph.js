/* wormsign web: the propagation graph (cytoscape, text labels only) and the replay slider. */
// -- graph and replay ----------------------------------------------------------------
function colourOf(h, colours) {
  if (h.state === "infected") {
    var g = colours.generations || ["#c0392b"], n = typeof h.generation === "number" ? h.generation : g.length - 1;
    return g[Math.min(Math.max(n, 0), g.length - 1)];
  }
  return colours[h.state] || colours.clean || "#aaa";
}
function drawGraph(inc) {
  var box = document.getElementById("graph"), colours = state.view.colours || {};
  if (state.cy) { state.cy.destroy(); state.cy = null; }
  if (typeof window.cytoscape !== "function") {
    clear(box).appendChild(el("p", "empty", "graph library not bundled: run scripts/build-web.sh"));
    return;
  }
  var ids = Object.create(null), elements = [], n = 0;
  function node(host, h) {
    if (ids[host] === undefined) {
      ids[host] = "n" + (n++);
      h = h || { host: host, state: "source" };
      var t = h.state === "infected" ? ms(h.infected_at) : null;
      elements.push({ group: "nodes", data: { id: ids[host], host: text(host).slice(0, 200), label: text(host).slice(0, 60),
        state: h.state || "", colour: colourOf(h, colours), t: t === null ? -Infinity : t, infected: h.state === "infected" } });
    }
    return ids[host];
  }
  (inc.hosts || []).forEach(function (h) { node(h.host, h); });
  (inc.edges || []).forEach(function (e, i) {
    var t = ms(e.ts);
    elements.push({ group: "edges", data: { id: "e" + i, source: node(e.source), target: node(e.target), idx: i,
      label: (Array.isArray(e.techniques) ? e.techniques : [e.method]).map(function (v) { return text(v); }).join(" ").slice(0, 60) + "\n" + short(e.ts).slice(5, 16), t: t === null ? -Infinity : t } });
  });
  var roots = inc.patient_zero && ids[inc.patient_zero] ? [ids[inc.patient_zero]] : undefined;
  state.cy = window.cytoscape({
    container: box, elements: elements,
    layout: { name: "breadthfirst", directed: true, roots: roots, spacingFactor: 1.1, padding: 10 },
    style: [
      { selector: "node", style: { "background-color": "data(colour)", label: "data(label)", "font-size": 9,
        "text-valign": "bottom", "text-wrap": "ellipsis", "text-max-width": 120, width: 18, height: 18 } },
      { selector: "edge", style: { "curve-style": "bezier", "target-arrow-shape": "triangle", width: 1.5,
        "line-color": "#999", "target-arrow-color": "#999", label: "data(label)", "font-size": 7,
        "text-wrap": "wrap", "text-max-width": 160, "text-rotation": "autorotate", color: "#555" } },
      { selector: ".future", style: { opacity: 0.12 } },
      { selector: "edge.future", style: { display: "none" } },
      { selector: ":selected", style: { "border-width": 3, "border-color": "#000", "line-color": "#000" } }
    ]
  });
  var hostById = Object.create(null);
  Object.keys(ids).forEach(function (h) { hostById[ids[h]] = h; });
  state.cy.on("tap", "node", function (evt) { selectHost(hostById[evt.target.id()]); });
  state.cy.on("tap", "edge", function (evt) { selectEdge(inc.edges[evt.target.data("idx")]); });
  window.wormsign.cy = state.cy;
  var times = [];
  elements.forEach(function (x) { if (isFinite(x.data.t)) times.push(x.data.t); });
  times.sort(function (a, b) { return a - b; });
  state.times = times;
  legend(colours);
  replayTo(Number(document.getElementById("time-slider").value));
}
function replayTo(v) {
  var cy = state.cy, g = document.getElementById("graph"), label = document.getElementById("time-label");
  if (!cy) return;
  var times = state.times, t = Infinity;
  if (times.length) t = times[0] + (times[times.length - 1] - times[0]) * v / 1000;
  var shown = 0, infected = 0, edges = 0;
  cy.batch(function () {
    cy.nodes().forEach(function (nd) {
      var future = nd.data("infected") && nd.data("t") > t;
      nd.toggleClass("future", future);
      if (nd.data("infected") && !future) infected++;
      if (!future) shown++;
    });
    cy.edges().forEach(function (ed) { var f = ed.data("t") > t; ed.toggleClass("future", f); if (!f) edges++; });
  });
  g.dataset.visibleInfected = String(infected);
  g.dataset.visibleEdges = String(edges);
  var total = cy.nodes().filter(function (nd) { return nd.data("infected"); }).length;
  label.textContent = (isFinite(t) ? new Date(t).toISOString().replace(".000Z", "Z") : "") + " · " + infected + " of " + total + " hosts infected";
}
function legend(colours) {
  var lg = clear(document.getElementById("legend"));
  (colours.generations || []).forEach(function (c, i) { var s = el("span", null, "generation " + i); var dot = el("i"); dot.style.background = c; s.insertBefore(dot, s.firstChild); lg.appendChild(s); });
  ["attacked", "source"].forEach(function (k) { var s = el("span", null, k); var dot = el("i"); dot.style.background = colours[k]; s.insertBefore(dot, s.firstChild); lg.appendChild(s); });
}
function play() {
  var s = document.getElementById("time-slider"), v = 0;
  var timer = setInterval(function () { v += 20; s.value = String(Math.min(v, 1000)); replayTo(Number(s.value)); if (v >= 1000) clearInterval(timer); }, 60);
}
