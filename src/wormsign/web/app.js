/* wormsign report and dashboard: one app that takes its data from the page or from the API.
 * Every value shown is attacker-written: text goes in with textContent or as a graph label,
 * never as markup, and no value ever becomes a URL, an attribute handler or code. */
(function () {
  "use strict";

  var config = JSON.parse(document.getElementById("wormsign-config").textContent || "{}");
  var state = { view: null, incident: null, cy: null, times: [], token: null, generated: null };
  var MAX_CELL = 300, MAX_FIELD = 4000;

  // -- DOM helpers: text only ----------------------------------------------------------
  function text(v, max) {
    if (v === null || v === undefined) return "";
    max = max || MAX_CELL;
    var s = typeof v === "string" ? v : (Array.isArray(v) ? v.map(function (v) { return text(v); }).join(", ") : (typeof v === "object" ? JSON.stringify(v) : String(v)));
    return s.length > max ? s.slice(0, max) + "… (" + s.length + " chars)" : s;
  }
  function el(tag, cls, content) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (content !== undefined && content !== null) {
      if (typeof content === "object" && content.nodeType) e.appendChild(content);
      else e.textContent = text(content);
    }
    return e;
  }
  function clear(node) { while (node.firstChild) node.removeChild(node.firstChild); return node; }
  function section(id, title) {
    var s = clear(document.getElementById(id));
    s.appendChild(el("h2", null, title));
    return s;
  }
  function table(parent, headers, rows, onClick) {
    if (!rows.length) { parent.appendChild(el("p", "empty", "none")); return null; }
    var t = el("table"), thead = el("thead"), tr = el("tr");
    headers.forEach(function (h) { tr.appendChild(el("th", null, h)); });
    thead.appendChild(tr); t.appendChild(thead);
    var tb = el("tbody");
    rows.forEach(function (r) {
      var row = el("tr", onClick && r.item !== undefined ? "clickable" : null);
      r.cells.forEach(function (c) { row.appendChild(el("td", r.cls || null, c)); });
      if (onClick && r.item !== undefined) row.addEventListener("click", function () { onClick(r.item); });
      tb.appendChild(row);
    });
    t.appendChild(tb);
    var wrap = el("div", "scroll"); wrap.appendChild(t); parent.appendChild(wrap);
    return t;
  }
  function card(parent, key, value, id) {
    var c = el("div", "card"); if (id) c.id = id;
    c.appendChild(el("div", "k", key)); c.appendChild(el("div", "v", value));
    parent.appendChild(c);
  }
  function ms(t) { var v = Date.parse(t); return isNaN(v) ? null : v; }
  function short(t) { return t ? text(t).replace("T", " ").replace(/\.\d+Z$/, "Z") : ""; }
  function hours(a, b) { var x = ms(a), y = ms(b); return x === null || y === null ? "" : ((y - x) / 3600000).toFixed(1) + " h"; }

  // -- data source: the page or the API ------------------------------------------------
  function api(path) {
    return fetch(path, { headers: { Authorization: "Bearer " + state.token } }).then(function (r) {
      if (r.status === 401) throw new Error("the token was refused: open the URL that `wormsign serve` printed");
      if (!r.ok) throw new Error(path + ": HTTP " + r.status);
      return r.json();
    });
  }
  function evidence(refs) {
    refs = refs.filter(function (r) { return typeof r === "string"; }).slice(0, 50);
    if (config.mode !== "api") {
      var ev = (state.view && state.view.evidence) || {};
      return Promise.resolve(refs.map(function (r) { return ev[r] || { ref: r, missing: true }; }));
    }
    if (!refs.length) return Promise.resolve([]);
    var q = refs.map(function (r) { return "ref=" + encodeURIComponent(r); }).join("&");
    return api("/api/evidence?" + q).then(function (d) {
      return refs.map(function (r) { return d.events[r] || { ref: r, missing: true }; });
    });
  }
  function status(msg) { document.getElementById("status").textContent = msg || ""; }

  // -- evidence panel ------------------------------------------------------------------
  function showEvidence(title, facts, refs) {
    var panel = clear(document.getElementById("details")), r = panel.getBoundingClientRect();
    if (r.top < 0 || r.top > window.innerHeight) panel.scrollIntoView({ block: "start" });
    panel.appendChild(el("h2", null, title));
    var dl = el("table", "facts");
    facts.forEach(function (f) {
      var tr = el("tr"); tr.appendChild(el("th", null, f[0])); tr.appendChild(el("td", null, f[1])); dl.appendChild(tr);
    });
    panel.appendChild(dl);
    var list = el("div"); list.id = "evidence-list"; panel.appendChild(list);
    if (!refs.length) { list.appendChild(el("p", "empty", "no evidence events cited")); return Promise.resolve(); }
    list.appendChild(el("p", "hint", "loading " + refs.length + " evidence events…"));
    return evidence(refs).then(function (events) {
      clear(list);
      list.appendChild(el("p", "hint", events.length + " evidence events"));
      events.forEach(function (ev) { list.appendChild(eventBox(ev)); });
    }).catch(function (e) { clear(list).appendChild(el("p", "empty", e.message)); });
  }
  function eventBox(ev) {
    var box = el("div", "event");
    if (ev.missing) { box.appendChild(el("div", "head", "not in the case: " + text(ev.ref))); return box; }
    box.appendChild(el("div", "head", [short(ev.ts), ev.host, ev.kind, ev["event.code"]].map(function (v) { return text(v); }).join("  ")));
    var t = el("table");
    Object.keys(ev).forEach(function (k) {
      if (k === "raw") return;
      var tr = el("tr"); tr.appendChild(el("th", null, k)); tr.appendChild(el("td", "field", text(ev[k], MAX_FIELD))); t.appendChild(tr);
    });
    box.appendChild(t);
    if (ev.raw) {
      var d = el("details"), pretty = ev.raw;
      d.appendChild(el("summary", null, "original record" + (ev.raw_truncated ? " (cut)" : "")));
      try { pretty = JSON.stringify(JSON.parse(ev.raw), null, 1); } catch (e) { /* shown as is */ }
      var pre = el("pre", "raw"); pre.textContent = pretty; d.appendChild(pre);
      d.open = true; box.appendChild(d);
    }
    return box;
  }
  function hostRefs(inc, host) {
    var refs = [];
    (inc.edges || []).forEach(function (e) { if (e.target === host) refs = refs.concat(e.evidence || []); });
    if (host === inc.patient_zero) (inc.initial_access || []).forEach(function (s) { if (s.ref) refs.push(s.ref); });
    (inc.edges || []).forEach(function (e) { if (e.source === host) refs = refs.concat(e.evidence || []); });
    ((inc.accounts || {}).locked || []).forEach(function (l) { if (l.source_host === host && l.ref) refs.push(l.ref); });
    return refs.filter(function (r, i) { return refs.indexOf(r) === i; });
  }
  function selectHost(host) {
    var inc = state.incident, h = (inc.hosts || []).filter(function (x) { return x.host === host; })[0] || { host: host };
    return showEvidence("Host " + text(host), [["state", h.state], ["generation", h.generation], ["infected at", h.infected_at],
      ["infector", h.infector], ["technique", h.technique], ["families", h.families], ["hashes", h.hashes]], hostRefs(inc, host));
  }
  function selectEdge(edge) {
    return showEvidence("Edge " + text(edge.source) + " → " + text(edge.target), [["time", edge.ts], ["techniques", edge.techniques],
      ["method", edge.method], ["account", edge.account], ["file", edge.file], ["alerts", edge.alerts]], edge.evidence || []);
  }

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
    var ids = {}, elements = [], n = 0;
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
        label: text(e.techniques || e.method).slice(0, 60) + "\n" + short(e.ts), t: t === null ? -Infinity : t } });
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
    var hostById = {};
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

  // -- the sections --------------------------------------------------------------------
  function renderSummary(inc) {
    var s = clear(document.getElementById("summary")), hosts = inc.hosts || [];
    var infected = hosts.filter(function (h) { return h.state === "infected"; }).length;
    card(s, "incident", text(inc.id) + " · " + text(inc.type) + " · " + text(inc.severity), "card-incident");
    card(s, "patient zero", inc.patient_zero || "unknown", "card-patient-zero");
    card(s, "hosts infected", infected, "card-infected");
    card(s, "under attack", (inc.under_attack || []).length);
    card(s, "spread rate", inc.spread_rate_per_hour === undefined ? "" : Number(inc.spread_rate_per_hour).toFixed(2) + " / h");
    card(s, "R estimate", inc.r_estimate === undefined ? "" : Number(inc.r_estimate).toFixed(2));
    card(s, "time span", short(inc.first_seen) + " → " + short(inc.last_seen) + " (" + hours(inc.first_seen, inc.last_seen) + ")");
    card(s, "families", (inc.families || []).map(function (f) { return f.family; }), "card-families");
    card(s, "accounts locked", ((inc.accounts || {}).locked || []).length);
    s.insertBefore(el("div", "card", inc.title), s.firstChild);
  }
  function renderContainment(inc) {
    var s = section("containment", "Containment order and actions");
    table(s, ["rank", "host", "downstream", "reason"], (inc.containment || []).slice().sort(function (a, b) { return a.rank - b.rank; })
      .map(function (c) { return { item: c.host, cells: [c.rank, c.host, c.downstream, c.reason] }; }), selectHost);
    var a = inc.actions || {};
    table(s, ["action", "targets"], [["isolate", a.isolate], ["reset credentials", a.reset_credentials], ["require MFA", a.mfa], ["block", a.block]]
      .map(function (r) { return { cells: [r[0], r[1] || []] }; }));
  }
  function renderAccounts(inc) {
    var s = section("accounts", "Locked-out accounts (for the helpdesk)"), acc = inc.accounts || {};
    var t = table(s, ["account", "locked at", "caused by host", "domain controller"], (acc.locked || []).map(function (l) {
      return { item: l, cells: [l.account, short(l.ts), l.source_host, l.dc] };
    }), function (l) { showEvidence("Lockout of " + text(l.account), [["time", l.ts], ["source host", l.source_host], ["dc", l.dc]], l.ref ? [l.ref] : []); });
    if (t) t.id = "locked-table";
    s.appendChild(el("p", null, "compromised accounts: " + (text(acc.compromised || []) || "none")));
  }
  function renderHosts(inc) {
    var s = section("hosts", "Hosts");
    var t = table(s, ["host", "state", "gen", "infected at", "infector", "technique", "families"], (inc.hosts || []).map(function (h) {
      return { item: h.host, cells: [h.host, h.state, h.generation, short(h.infected_at), h.infector, h.technique, h.families] };
    }), selectHost);
    if (t) t.id = "host-table";
  }
  function renderTimeline(inc) {
    var s = section("timeline", "Timeline"), rows = [];
    (inc.initial_access || []).forEach(function (x) { rows.push({ t: x.ts, what: "initial access", who: x.host, detail: [x.parent, x.process, x.command_line].map(function (v) { return text(v); }).join(" → "), go: function () { showEvidence("Initial access on " + text(x.host), [["process", x.process], ["command line", x.command_line]], x.ref ? [x.ref] : []); } }); });
    (inc.edges || []).forEach(function (e) { rows.push({ t: e.ts, what: "infection (" + text(e.method) + ")", who: text(e.source) + " → " + text(e.target), detail: e.techniques, go: function () { selectEdge(e); } }); });
    ((inc.accounts || {}).locked || []).forEach(function (l) { rows.push({ t: l.ts, what: "lockout", who: l.account, detail: "from " + text(l.source_host) + " at " + text(l.dc) }); });
    (inc.deliveries || []).forEach(function (d) { rows.push({ t: d.ts, what: "delivery", who: d.host, detail: text(d.from_family) + " delivered " + text(d.to_family) }); });
    rows.sort(function (a, b) { return (ms(a.t) || 0) - (ms(b.t) || 0); });
    table(s, ["time", "what", "hosts", "detail"], rows.map(function (r) { return { item: r.go, cells: [short(r.t), r.what, r.who, r.detail] }; }),
      function (go) { if (go) go(); });
  }
  function renderIocs(inc) {
    var s = section("iocs", "C2 and indicators");
    table(s, ["address", "port", "family", "hosts"], (inc.c2 || []).map(function (c) { return { cells: [c.address, c.port, c.family, c.hosts] }; }));
    var files = {};
    (inc.edges || []).forEach(function (e) { if (e.file && e.file.sha256) files[e.file.sha256] = e.file; });
    (inc.hosts || []).forEach(function (h) { (h.hashes || []).forEach(function (x) { files[x] = files[x] || { sha256: x }; }); });
    table(s, ["sha256", "file name", "path"], Object.keys(files).map(function (k) { return { cells: [k, files[k].name, files[k].path] }; }));
  }
  function renderAttack(inc) {
    var s = section("attack", "ATT&CK techniques seen"), seen = {}, names = state.view.attack || {};
    (inc.edges || []).forEach(function (e) { (e.techniques || []).forEach(function (t) { seen[t] = (seen[t] || 0) + 1; }); });
    alertsOf(inc).forEach(function (a) { (a.attack || []).forEach(function (t) { seen[t] = (seen[t] || 0) + 1; }); });
    table(s, ["technique", "name", "seen"], Object.keys(seen).sort().map(function (t) { return { cells: [t, names[t] || "", seen[t]] }; }));
  }
  function alertsOf(inc) {
    var ids = {}; (inc.alerts || []).forEach(function (a) { ids[a] = true; });
    return (state.view.alerts || []).filter(function (a) { return ids[a.id]; });
  }
  function renderAlerts(inc) {
    var s = section("alerts", "Alerts of this incident");
    table(s, ["time", "severity", "rule", "host", "title"], alertsOf(inc).map(function (a) {
      return { item: a, cls: null, cells: [short(a.ts), a.severity, a.rule, a.host, a.title] };
    }), function (a) { showEvidence("Alert " + text(a.id), [["rule", a.rule], ["summary", a.summary], ["attack", a.attack], ["fields", a.fields]], a.evidence || []); });
  }

  // -- event search (dashboard) --------------------------------------------------------
  function renderSearch() {
    var s = section("search", "Search events"), form = el("form"), inputs = {};
    form.id = "search-form";
    ["host", "kind", "code", "user", "since", "until", "q"].forEach(function (k) {
      var i = el("input"); i.name = k; i.placeholder = k === "q" ? "text" : k; inputs[k] = i; form.appendChild(i);
    });
    form.appendChild(el("button", null, "search"));
    var out = el("div"); out.id = "search-results";
    s.appendChild(form); s.appendChild(out);
    function run(offset) {
      var p = ["limit=50", "offset=" + offset];
      Object.keys(inputs).forEach(function (k) { if (inputs[k].value) p.push(k + "=" + encodeURIComponent(inputs[k].value)); });
      api("/api/events?" + p.join("&")).then(function (d) {
        clear(out).appendChild(el("p", "hint", d.total + " events; showing " + (offset + 1) + "–" + (offset + d.events.length)));
        table(out, ["time", "host", "kind", "code", "user", "summary"], d.events.map(function (ev) {
          return { item: ev, cells: [short(ev.ts), ev.host, ev.kind, ev["event.code"], ev["user.name"], ev["process.command_line"] || ev["file.path"] || ev["destination.ip"] || ""] };
        }), function (ev) { showEvidence("Event " + text(ev.ref), [], [ev.ref]); });
        if (offset + d.events.length < d.total) { var b = el("button", null, "next page"); b.type = "button"; b.addEventListener("click", function () { run(offset + 50); }); out.appendChild(b); }
      }).catch(function (e) { clear(out).appendChild(el("p", "empty", e.message)); });
    }
    form.addEventListener("submit", function (e) { e.preventDefault(); run(0); });
  }

  // -- wiring --------------------------------------------------------------------------
  function showIncident(id) {
    var inc = (state.view.incidents || []).filter(function (i) { return i.id === id; })[0];
    if (!inc) return;
    state.incident = inc;
    renderSummary(inc); drawGraph(inc); renderContainment(inc); renderAccounts(inc); renderHosts(inc);
    renderTimeline(inc); renderIocs(inc); renderAttack(inc); renderAlerts(inc);
  }
  function render(view) {
    state.view = view;
    var c = view.case || {};
    document.getElementById("case-line").textContent = text(c.name) + " · " + text(c.events) + " events · " + text(c.hosts) + " hosts · " + short(c.first) + " → " + short(c.last);
    var sel = clear(document.getElementById("incident-select")), incs = view.incidents || [];
    var order = incs.slice().sort(function (a, b) { return (b.type === "outbreak") - (a.type === "outbreak") || (b.hosts || []).length - (a.hosts || []).length; });
    order.forEach(function (i) { var o = el("option", null, text(i.id) + " " + text(i.title).slice(0, 80)); o.value = i.id; sel.appendChild(o); });
    if (!order.length) { document.getElementById("summary").appendChild(el("p", "empty", "the hunt found no incident")); return; }
    var keep = state.incident && order.filter(function (i) { return i.id === state.incident.id; }).length ? state.incident.id : order[0].id;
    sel.value = keep; showIncident(keep);
    document.body.dataset.ready = "1";
  }
  function start() {
    window.wormsign = { state: state, cy: null, replayTo: replayTo };
    document.getElementById("incident-select").addEventListener("change", function (e) { showIncident(e.target.value); });
    document.getElementById("time-slider").addEventListener("input", function (e) { replayTo(Number(e.target.value)); });
    document.getElementById("play").addEventListener("click", play);
    if (config.mode !== "api") {
      document.getElementById("search").style.display = "none";
      render(JSON.parse(document.getElementById("wormsign-data").textContent));
      return;
    }
    document.getElementById("title").textContent = "wormsign dashboard";
    var params = new URLSearchParams(window.location.search);
    if (params.get("token")) {
      sessionStorage.setItem("wormsign-token", params.get("token"));
      history.replaceState(null, "", window.location.pathname);
    }
    state.token = sessionStorage.getItem("wormsign-token");
    if (!state.token) { status("no token: open the URL that `wormsign serve` printed"); return; }
    renderSearch();
    function refresh() {
      api("/api/view").then(function (v) {
        var g = JSON.stringify(v.hunt || {});
        if (g !== state.generated) { state.generated = g; render(v); }
        status("live · " + new Date().toISOString().slice(11, 19) + "Z");
      }).catch(function (e) { status(e.message); });
    }
    refresh();
    setInterval(refresh, Number(config.refresh_ms) || 30000);
  }
  start();
})();
