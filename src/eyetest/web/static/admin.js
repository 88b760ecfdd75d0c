/* eyetest admin page: progress, live leaderboard with CIs, rater quality, pause/resume/close.
 *
 * The admin token is typed once, kept in sessionStorage (gone when the tab
 * closes) and sent as "Authorization: Bearer <token>" to the admin JSON API
 * under /api/v1/admin.  The page refreshes itself every REFRESH_MS.
 */
(function () {
  "use strict";
  var ET = window.Eyetest;
  var KEY = "eyetest:admin-token";
  var REFRESH_MS = 10000;
  var ALL = "(all)";

  var api, token = null, study = null, timer = null, rows = [];

  function tokenGet() { try { return window.sessionStorage.getItem(KEY); } catch (e) { return token; } }
  function tokenSet(t) { try { if (t) window.sessionStorage.setItem(KEY, t); else window.sessionStorage.removeItem(KEY); } catch (e) { /* memory only */ } token = t; }

  function call(method, path) {
    var used = token;
    var headers = { Accept: "application/json" };
    if (used) headers.Authorization = "Bearer " + used;     // none: a server run with --insecure-local
    return window.fetch(api + "/admin" + path, {
      method: method,
      headers: headers,
      cache: "no-store",
    }).then(function (res) {
      return res.text().then(function (text) {
        var body = null;
        try { body = text ? JSON.parse(text) : null; } catch (e) { body = { error: text.slice(0, 200) }; }
        if (!res.ok) {
          var err = new ET.HttpError(res.status, body);
          err.token = used;
          throw err;
        }
        return body;
      });
    });
  }

  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined && text !== null) e.textContent = text;
    return e;
  }

  function fmt(v) {
    if (typeof v === "number") return Number.isInteger(v) ? String(v) : v.toFixed(Math.abs(v) < 10 ? 3 : 1);
    if (typeof v === "boolean") return v ? "yes" : "no";
    if (v === null || v === undefined) return "";
    if (typeof v === "object") return JSON.stringify(v);
    return String(v);
  }

  /* ---- sign in ------------------------------------------------------------ */

  function signedIn() {
    return loadStudies();
  }

  function signOut(message) {
    tokenSet(null);
    window.clearInterval(timer);
    document.getElementById("admin").hidden = true;
    document.getElementById("login").hidden = false;
    document.getElementById("login-status").textContent = message || "";
  }

  function failed(err) {
    if (err && err.status === 401) {
      if (err.token !== token) return null;        // an answer to a token no longer in use
      return signOut(err.token ? "The admin token was not accepted." : "");
    }
    ET.banner(err && err.message ? err.message : String(err), "error");
    return null;
  }

  /* ---- studies and progress ----------------------------------------------- */

  function loadStudies() {
    return call("GET", "/studies").then(function (body) {
      document.getElementById("login").hidden = true;
      document.getElementById("admin").hidden = false;
      var select = document.getElementById("study-select");
      select.textContent = "";
      var list = body.studies || [];
      list.forEach(function (s) {
        var o = el("option", "", s.name + " (" + s.study + ")");
        o.value = s.study;
        select.appendChild(o);
      });
      var wanted = new URLSearchParams(window.location.search).get("study");
      study = list.some(function (s) { return s.study === wanted; }) ? wanted : (list.length ? list[list.length - 1].study : null);
      if (study) select.value = study;
      if (!list.length) document.getElementById("progress-summary").textContent = "No study yet: create one with `eyetest study create SPEC.toml`.";
      refresh();
      window.clearInterval(timer);
      timer = window.setInterval(refresh, REFRESH_MS);
    }).catch(failed);
  }

  function refresh() {
    if (!study) return null;
    return Promise.all([
      call("GET", "/studies/" + encodeURIComponent(study)).then(showProgress),
      call("GET", "/studies/" + encodeURIComponent(study) + "/leaderboard").then(showLeaderboard)
        .catch(function (err) { if (err.status === 401) throw err; note("leaderboard-note", err); }),
      call("GET", "/studies/" + encodeURIComponent(study) + "/raters").then(showRaters)
        .catch(function (err) { if (err.status === 401) throw err; note("raters-note", err); }),
    ]).then(function () {
      ET.banner("");
      document.getElementById("refreshed").textContent = "updated " + new Date().toLocaleTimeString();
    }).catch(failed);
  }

  function note(id, err) {
    document.getElementById(id).textContent = "Not available: " + (err && err.message ? err.message : String(err));
  }

  function showProgress(p) {
    var pill = document.getElementById("study-status");
    pill.textContent = p.status;
    pill.className = "status-pill " + p.status;
    document.getElementById("btn-pause").disabled = p.status !== "open";
    document.getElementById("btn-resume").disabled = p.status !== "paused";
    document.getElementById("btn-close").disabled = p.status === "closed";
    var s = document.getElementById("progress-summary");
    s.textContent = "";
    [["sessions", p.sessions], ["finished", p.sessions_finished], ["expired", p.sessions_expired || 0],
     ["judgments", p.judgments]].forEach(function (kv) {
      var span = el("span", "stat");
      span.appendChild(el("strong", "", fmt(kv[1])));
      span.appendChild(document.createTextNode(" " + kv[0]));
      if (kv[0] === "judgments") {
        span.appendChild(document.createTextNode(" of "));
        span.appendChild(el("strong", "", fmt(p.trials_planned)));
        span.appendChild(document.createTextNode(" trials planned"));
      }
      s.appendChild(span);
    });
    var bar = document.getElementById("admin-progress-bar");
    bar.style.width = (p.trials_planned ? (100 * p.judgments / p.trials_planned) : 0).toFixed(1) + "%";
  }

  /* ---- leaderboard -------------------------------------------------------------
   * The leaderboard JSON is flattened into rows {dimension, scenario, method,
   * score, low, high, ...}: any array of objects naming a method (or a
   * condition) is a table; "dimension"/"scenario" fields of the enclosing
   * objects (or of the rows) say which one. */

  var SCORE_KEYS = ["score", "strength", "jod", "mos", "mean", "value", "estimate"];
  var LOW_KEYS = ["ci_low", "low", "lower", "ci_lower", "lo"];
  var HIGH_KEYS = ["ci_high", "high", "upper", "ci_upper", "hi"];

  function pick(obj, keys) {
    for (var i = 0; i < keys.length; i++) if (typeof obj[keys[i]] === "number") return obj[keys[i]];
    return null;
  }

  function flatten(node, ctx, out) {
    if (Array.isArray(node)) {
      node.forEach(function (x) {
        if (x && typeof x === "object" && !Array.isArray(x) && ("method" in x || "condition" in x)) {
          var r = Object.assign({}, ctx, x);
          r.name = x.method !== undefined ? x.method : x.condition;
          r.score = pick(x, SCORE_KEYS);
          r.low = pick(x, LOW_KEYS);
          r.high = pick(x, HIGH_KEYS);
          if (Array.isArray(x.ci) && x.ci.length === 2) { r.low = x.ci[0]; r.high = x.ci[1]; }
          r.dimension = x.dimension !== undefined ? x.dimension : ctx.dimension;
          r.scenario = x.scenario !== undefined ? x.scenario : ctx.scenario;
          out.push(r);
        } else {
          flatten(x, ctx, out);
        }
      });
    } else if (node && typeof node === "object") {
      var next = Object.assign({}, ctx);
      if (typeof node.dimension === "string") next.dimension = node.dimension;
      if (typeof node.scenario === "string" || node.scenario === null) next.scenario = node.scenario;
      Object.keys(node).forEach(function (k) {
        var v = node[k];
        if (!v || typeof v !== "object") return;
        var c = Object.assign({}, next);
        if (ctx._mapOf === "dimension") c.dimension = k;
        if (ctx._mapOf === "scenario") c.scenario = k;
        c._mapOf = /^(by_)?dimensions?$/.test(k) && !Array.isArray(v) ? "dimension" :
          /^(by_)?scenarios?$/.test(k) && !Array.isArray(v) ? "scenario" : null;
        flatten(v, c, out);
      });
    }
    return out;
  }

  function options(select, values, keep) {
    var current = select.value;
    select.textContent = "";
    values.forEach(function (v) {
      var o = el("option", "", v);
      o.value = v;
      select.appendChild(o);
    });
    if (keep && values.indexOf(current) >= 0) select.value = current;
  }

  function showLeaderboard(body) {
    rows = flatten(body, {}, []).filter(function (r) { return typeof r.score === "number"; });
    var dims = [], scens = [];
    rows.forEach(function (r) {
      var d = r.dimension || "overall", s = r.scenario === null || r.scenario === undefined || r.scenario === "" ? ALL : r.scenario;
      r._d = d;
      r._s = s;
      if (dims.indexOf(d) < 0) dims.push(d);
      if (scens.indexOf(s) < 0) scens.push(s);
    });
    scens.sort(function (a, b) { return a === ALL ? -1 : b === ALL ? 1 : a < b ? -1 : 1; });
    dims.sort(function (a, b) { return a === "overall" ? -1 : b === "overall" ? 1 : a < b ? -1 : a > b ? 1 : 0; });
    options(document.getElementById("dimension-select"), dims, true);
    options(document.getElementById("scenario-select"), scens, true);
    var n = document.getElementById("leaderboard-note");
    var bits = [];
    if (body && body.model) bits.push("model: " + body.model + (rows[0] && rows[0].unit ? " (" + rows[0].unit + ")" : ""));
    if (body && typeof body.judgments === "number") bits.push(body.judgments + " judgments (training and control trials are not scaled)");
    if (body && Array.isArray(body.notes)) bits = bits.concat(body.notes);
    n.textContent = rows.length ? bits.join("; ") : "No judgments yet." + (bits.length ? " " + bits.join("; ") : "");
    drawLeaderboard();
  }

  function drawLeaderboard() {
    var d = document.getElementById("dimension-select").value;
    var s = document.getElementById("scenario-select").value;
    var sel = rows.filter(function (r) { return r._d === d && r._s === s; })
      .sort(function (a, b) { return b.score - a.score; });
    var table = document.getElementById("leaderboard");
    var hasRank = sel.some(function (r) { return typeof r.rank_low === "number"; });
    var head = table.tHead;
    head.textContent = "";
    var tr = el("tr");
    // n_judgments is the size of the fit (this dimension and scenario, every method), not a per-method count
    var JUDGED = "judgments fitted";
    var cols = ["#", "method", "score", "95% CI", ""].concat(hasRank ? ["rank (95%)"] : [], [JUDGED]);
    cols.forEach(function (h) {
      var th = el("th", h === "score" || h === "95% CI" || h === JUDGED ? "num" : "", h);
      if (h === JUDGED) th.title = "judgments in this dimension and scenario, all methods together";
      tr.appendChild(th);
    });
    head.appendChild(tr);
    var lo = Infinity, hi = -Infinity;
    sel.forEach(function (r) {
      lo = Math.min(lo, r.low !== null ? r.low : r.score);
      hi = Math.max(hi, r.high !== null ? r.high : r.score);
    });
    var span = hi - lo || 1;
    var tb = table.tBodies[0];
    tb.textContent = "";
    sel.forEach(function (r, i) {
      var row = el("tr");
      row.appendChild(el("td", "num", String(i + 1)));
      row.appendChild(el("td", "", fmt(r.name)));
      row.appendChild(el("td", "num", fmt(r.score)));
      row.appendChild(el("td", "num", r.low !== null && r.high !== null ? "[" + fmt(r.low) + ", " + fmt(r.high) + "]" : ""));
      var cell = el("td");
      var ci = el("div", "ci");
      if (r.low !== null && r.high !== null) {
        var bar = el("div", "bar");
        bar.style.left = (100 * (r.low - lo) / span).toFixed(2) + "%";
        bar.style.width = (100 * (r.high - r.low) / span).toFixed(2) + "%";
        ci.appendChild(bar);
      }
      var dot = el("div", "dot");
      dot.style.left = "calc(" + (100 * (r.score - lo) / span).toFixed(2) + "% - 1px)";
      ci.appendChild(dot);
      cell.appendChild(ci);
      row.appendChild(cell);
      if (hasRank) {
        row.appendChild(el("td", "", r.rank_low === r.rank_high ? fmt(r.rank_low) : fmt(r.rank_low) + "\u2013" + fmt(r.rank_high)));
      }
      var n = typeof r.n_judgments === "number" ? r.n_judgments : r.n;
      row.appendChild(el("td", "num", fmt(n)));
      tb.appendChild(row);
    });
  }

  /* ---- rater quality ---------------------------------------------------------- */

  var RATER_COLUMNS = ["participant", "judgments", "session", "gold_accuracy", "consistency", "circular_rate", "too_fast_rate",
    "median_ms", "modal_answer", "modal_rate", "side_bias_p", "sprt_decision", "rating_too_fast_rate",
    "rating_median_ms", "rating_modal_answer", "rating_modal_rate", "bt500_reject", "outlier", "excluded", "reasons"];

  function showRaters(body) {
    var list = Array.isArray(body) ? body : (body && (body.raters || body.rows)) || [];
    var table = document.getElementById("raters");
    var present = [];
    list.forEach(function (r) { Object.keys(r).forEach(function (k) { if (present.indexOf(k) < 0) present.push(k); }); });
    var cols = RATER_COLUMNS.filter(function (c) { return present.indexOf(c) >= 0; });
    if (!cols.length) cols = present;
    table.tHead.textContent = "";
    var tr = el("tr");
    cols.forEach(function (c) { tr.appendChild(el("th", "", c.replace(/^rating_/, "").replace(/_/g, " "))); });
    table.tHead.appendChild(tr);
    var tb = table.tBodies[0];
    tb.textContent = "";
    list.forEach(function (r) {
      var row = el("tr");
      if (r.excluded === true || r.outlier === true || r.flagged === true) row.className = "flag";
      cols.forEach(function (c) {
        var v = r[c];
        if (Array.isArray(v)) v = v.filter(function (x) { return x; }).join(", ");
        row.appendChild(el("td", typeof v === "number" ? "num" : "", fmt(v)));
      });
      tb.appendChild(row);
    });
    var notes = body && Array.isArray(body.notes) ? body.notes.join("; ") : "";
    document.getElementById("raters-note").textContent = list.length ? notes : "No raters yet." + (notes ? " " + notes : "");
  }

  /* ---- export ------------------------------------------------------------------
   * The export needs the bearer token, which a plain link cannot send (and a
   * token in a URL would end up in logs and the browser history): fetch it
   * with the header and hand the browser the file as a blob. */

  function exportAs(format) {
    return function () {
      if (!study) return;
      var name = study + "." + format;
      var status = document.getElementById("export-status");
      var used = token;
      var headers = {};
      if (used) headers.Authorization = "Bearer " + used;
      status.textContent = "Preparing " + name + "\u2026";
      window.fetch(api + "/studies/" + encodeURIComponent(study) + "/export?format=" + format,
        { headers: headers, cache: "no-store" }).then(function (res) {
        if (!res.ok) {
          return res.text().then(function (text) {
            var body = null;
            try { body = JSON.parse(text); } catch (e) { body = { error: text.slice(0, 200) }; }
            var err = new ET.HttpError(res.status, body);
            err.token = used;
            throw err;
          });
        }
        return res.blob();
      }).then(function (blob) {
        var url = URL.createObjectURL(blob);
        var a = document.createElement("a");
        a.href = url;
        a.download = name;
        a.hidden = true;
        document.body.appendChild(a);
        a.click();
        a.remove();
        window.setTimeout(function () { URL.revokeObjectURL(url); }, 60000);
        status.textContent = name + " downloaded (" + blob.size + " bytes).";
      }).catch(function (err) {
        status.textContent = "";
        failed(err);
      });
    };
  }

  /* ---- actions ---------------------------------------------------------------- */

  function action(name, confirmText) {
    return function () {
      if (!study) return;
      if (confirmText && !window.confirm(confirmText)) return;
      call("POST", "/studies/" + encodeURIComponent(study) + "/" + name).then(refresh).catch(failed);
    };
  }

  document.addEventListener("DOMContentLoaded", function () {
    if (document.body.dataset.page !== "admin") return;
    api = document.body.dataset.api || "/api/v1";
    document.getElementById("login").addEventListener("submit", function (ev) {
      ev.preventDefault();
      var t = document.getElementById("admin-token").value.trim();
      if (!t) return;
      tokenSet(t);
      document.getElementById("admin-token").value = "";
      signedIn();
    });
    document.getElementById("btn-logout").addEventListener("click", function () { signOut(""); });
    document.getElementById("btn-export-csv").addEventListener("click", exportAs("csv"));
    document.getElementById("btn-export-jsonl").addEventListener("click", exportAs("jsonl"));
    document.getElementById("btn-pause").addEventListener("click", action("pause"));
    document.getElementById("btn-resume").addEventListener("click", action("resume"));
    document.getElementById("btn-close").addEventListener("click",
      action("close", "Close this study for good? Raters can no longer answer and it cannot be reopened."));
    document.getElementById("study-select").addEventListener("change", function (ev) {
      study = ev.target.value;
      refresh();
    });
    document.getElementById("dimension-select").addEventListener("change", drawLeaderboard);
    document.getElementById("scenario-select").addEventListener("change", drawLeaderboard);
    // with a stored token, or none (a server run with --insecure-local needs none):
    // a 401 shows the sign-in form
    token = tokenGet();
    signedIn();
  });
})();
