/* wormsign report and dashboard: one app that takes its data from the page or from the API.
 * Built by concatenating dom.js, evidence.js, layout.js, graph.js, sections.js and this file inside one
 * function scope (wormsign.report.html.APP_FILES). */
var config = JSON.parse(document.getElementById("wormsign-config").textContent || "{}");
var state = { view: null, incident: null, cy: null, times: [], token: null, generated: null, model: null, focus: null,
  filter: null, match: null, rp: null };

// -- wiring --------------------------------------------------------------------------
function showIncident(id) {
  var inc = (state.view.incidents || []).filter(function (i) { return i.id === id; })[0];
  if (!inc) return;
  state.incident = inc; state.match = null;
  renderSummary(inc); drawGraph(inc); renderContainment(inc); renderAccounts(inc); renderHosts(inc);
  renderTimeline(inc); renderIocs(inc); renderSpreadTables(inc); renderAttack(inc); renderAlerts(inc);
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
  window.wormsign = { state: state, cy: null, replayTo: replayTo, revealHost: revealHost };
  wireGraphControls();
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
  window.wormsign.refresh = refresh;
  refresh();
  setInterval(refresh, Number(config.refresh_ms) || 30000);
}
start();
