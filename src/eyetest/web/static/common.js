/* eyetest pages: helpers shared by the rater, start, completion and admin pages. */
(function () {
  "use strict";
  var ET = (window.Eyetest = window.Eyetest || {});

  /* A random (version 4) UUID.  crypto.randomUUID exists only in secure
   * contexts (https, localhost), so fall back to crypto.getRandomValues. */
  ET.uuid = function () {
    if (window.crypto && typeof window.crypto.randomUUID === "function") {
      return window.crypto.randomUUID();
    }
    var b = new Uint8Array(16);
    window.crypto.getRandomValues(b);
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    var h = Array.prototype.map.call(b, function (x) { return (x + 256).toString(16).slice(1); }).join("");
    return h.slice(0, 8) + "-" + h.slice(8, 12) + "-" + h.slice(12, 16) + "-" + h.slice(16, 20) + "-" + h.slice(20);
  };

  /* localStorage that degrades to memory when storage is blocked. */
  var memory = {};
  ET.store = {
    get: function (key) {
      try {
        var v = window.localStorage.getItem(key);
        return v === null ? null : JSON.parse(v);
      } catch (e) {
        return key in memory ? memory[key] : null;
      }
    },
    set: function (key, value) {
      memory[key] = value;
      try { window.localStorage.setItem(key, JSON.stringify(value)); } catch (e) { /* memory only */ }
    },
    remove: function (key) {
      delete memory[key];
      try { window.localStorage.removeItem(key); } catch (e) { /* memory only */ }
    },
  };

  ET.sleep = function (ms) {
    return new Promise(function (resolve) { window.setTimeout(resolve, ms); });
  };

  /* An HTTP answer that is final (a 4xx other than 408/429): not retried. */
  function HttpError(status, body) {
    this.name = "HttpError";
    this.status = status;
    this.body = body;
    var why = body && (body.error || body.detail);
    this.message = "HTTP " + status + (why ? ": " + (typeof why === "string" ? why : JSON.stringify(why)) : "");
    this.reason = typeof why === "string" ? why : "";
  }
  HttpError.prototype = Object.create(Error.prototype);
  ET.HttpError = HttpError;

  function retriable(status) {
    return status === 408 || status === 425 || status === 429 || status >= 500;
  }

  /* An attempt that has had no complete answer after this long is abandoned
   * and retried like a network error (a stalled connection would otherwise
   * leave the page waiting for minutes with nothing said).  Tests may set
   * window.Eyetest.fetchTimeoutMs before the scripts run. */
  if (typeof ET.fetchTimeoutMs !== "number") ET.fetchTimeoutMs = 20000;

  function TimeoutError() {
    this.name = "TimeoutError";
    this.message = "no answer from the server after " + Math.round(ET.fetchTimeoutMs / 1000) + " s";
  }
  TimeoutError.prototype = Object.create(Error.prototype);

  /* window.fetch, abandoned (TimeoutError) when the whole answer has not
   * arrived within ET.fetchTimeoutMs.  Resolves to {res, text}. */
  function fetchText(url, options) {
    var ctl = typeof AbortController === "function" ? new AbortController() : null;
    var timedOut = false;
    var timer = ctl ? window.setTimeout(function () { timedOut = true; ctl.abort(); }, ET.fetchTimeoutMs) : null;
    var opts = Object.assign({}, options);
    if (ctl) opts.signal = ctl.signal;
    return window.fetch(url, opts).then(function (res) {
      if (res.status === 204) return { res: res, text: "" };
      return res.text().then(function (text) { return { res: res, text: text }; });
    }).then(function (out) {
      window.clearTimeout(timer);
      return out;
    }, function (err) {
      window.clearTimeout(timer);
      throw timedOut ? new TimeoutError() : err;
    });
  }

  /* fetch JSON; network errors, attempts with no answer after
   * ET.fetchTimeoutMs, 408, 429 and 5xx are retried with exponential
   * backoff (0.5 s doubling up to 15 s, with jitter) for ever, calling
   * onRetry(attempt, error) before each wait; other 4xx throw HttpError.
   * Resolves to {status, body}. */
  ET.fetchJSON = function (url, options, onRetry) {
    options = options || {};
    var attempt = 0;
    function once() {
      return fetchText(url, options).then(function (out) {
        var res = out.res, text = out.text;
        if (res.status === 204) return { status: 204, body: null };
        var body = null;
        try { body = text ? JSON.parse(text) : null; } catch (e) { body = { error: text.slice(0, 200) }; }
        if (res.ok) return { status: res.status, body: body };
        var err = new HttpError(res.status, body);
        if (retriable(res.status)) err.retriable = true;
        throw err;
      }).catch(function (err) {
        if (err instanceof HttpError && !err.retriable) throw err;
        attempt += 1;
        var wait = Math.min(15000, 500 * Math.pow(2, attempt - 1)) * (0.75 + 0.5 * Math.random());
        if (onRetry) onRetry(attempt, err, wait);
        return ET.sleep(wait).then(once);
      });
    }
    return once();
  };

  ET.banner = function (text, kind) {
    var el = document.getElementById("banner");
    if (!el) return;
    el.textContent = text || "";
    el.className = "banner" + (kind ? " " + kind : "");
    el.hidden = !text;
  };

  ET.data = function () { return document.body.dataset; };
})();
