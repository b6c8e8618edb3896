/* wormsign web: the report's sections: summary, containment, accounts, hosts, timeline, IOCs, ATT&CK, alerts, search. */
// -- the sections --------------------------------------------------------------------
function renderSummary(inc) {
  var s = clear(document.getElementById("summary")), hosts = inc.hosts || [];
  var infected = hosts.filter(function (h) { return h.state === "infected"; }).length;
  card(s, "incident", text(inc.id) + " · " + text(inc.type) + " · " + text(inc.severity), "card-incident");
  card(s, "patient zero", inc.patient_zero || "unknown", "card-patient-zero");
  card(s, "hosts infected", infected, "card-infected");
  var attacked = new Set(Array.isArray(inc.under_attack) ? inc.under_attack : []);  // lateral incidents list them only as hosts
  hosts.forEach(function (h) { if (h.state === "attacked") attacked.add(h.host); });
  card(s, "under attack", attacked.size, "card-attacked");
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
  var match = state.match, hosts = (inc.hosts || []).filter(function (h) { return !match || match.hosts.has(h.host); });
  var s = section("hosts", match ? "Hosts matching the filter (" + hosts.length + " of " + (inc.hosts || []).length + ")" : "Hosts");
  var t = table(s, ["host", "state", "gen", "infected at", "infector", "technique", "families"], hosts.map(function (h) {
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
  var files = Object.create(null);
  (inc.edges || []).forEach(function (e) { if (e.file && e.file.sha256) files[e.file.sha256] = e.file; });
  (inc.hosts || []).forEach(function (h) { (h.hashes || []).forEach(function (x) { files[x] = files[x] || { sha256: x }; }); });
  var t = table(s, ["sha256", "file name", "path"], Object.keys(files).map(function (k) { return { item: k, cells: [k, files[k].name, files[k].path] }; }), setHashFilter);
  if (t) { t.id = "file-table"; s.appendChild(el("p", "hint", "click a file to show where it went in the graph")); }
}
function renderSpreadTables(inc) {
  // the outbreak's per-file tree and next likely hops, as the view gives them (every cell text)
  var s = clear(document.getElementById("spread-tables")), tabs = own(state.view.tables || {}, inc.id) || [];
  tabs.forEach(function (tab) {
    if (!tab || !Array.isArray(tab.rows)) return;
    s.appendChild(el("h2", null, tab.title));
    if (!tab.rows.length) { s.appendChild(el("p", "empty", "none")); return; }
    var t = table(s, tab.columns || [], tab.rows.map(function (r) { return { item: r, cells: r }; }),
      tab.id === "files" ? function (r) { if (/^[0-9a-f]{64}$/.test(String(r[0]))) setHashFilter(r[0]); } : null);
    if (t) t.id = text(tab.id) + "-table";
  });
}
function renderAttack(inc) {
  var s = section("attack", "ATT&CK techniques seen"), seen = Object.create(null), names = state.view.attack || {};
  (inc.edges || []).forEach(function (e) { (e.techniques || []).forEach(function (t) { seen[t] = (seen[t] || 0) + 1; }); });
  alertsOf(inc).forEach(function (a) { (a.attack || []).forEach(function (t) { seen[t] = (seen[t] || 0) + 1; }); });
  table(s, ["technique", "name", "seen"], Object.keys(seen).sort().map(function (t) { return { cells: [t, own(names, t) || "", seen[t]] }; }));
}
function alertsOf(inc) {
  var ids = Object.create(null); (inc.alerts || []).forEach(function (a) { ids[a] = true; });
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
