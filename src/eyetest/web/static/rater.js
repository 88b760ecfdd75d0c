/* eyetest rater page: trials, keyboard, answers, resumable submission, training feedback.
 *
 * Submissions are at-least-once from the browser and exactly-once in the
 * database: before a judgment is sent it is written to localStorage with a
 * client-generated client_id; it is removed only after the server has
 * acknowledged it (201, or 200 for a replay).  Network errors, 408, 429 and
 * 5xx are retried with exponential backoff; a reload sends a pending
 * judgment again before asking for the next trial, and the server
 * deduplicates by client_id.  The answers of the trial on screen are kept as
 * a draft, so a reload shows the same trial with the same answers.
 */
(function () {
  "use strict";
  var ET = window.Eyetest;
  var role = ET.choiceRole;

  /* below this window size (CSS px) the page shows the "too small" message */
  var MIN_W = 1000, MIN_H = 560;

  function Rater() {
    var d = document.body.dataset;
    this.token = d.session;
    this.api = d.api || "/api/v1";
    this.protocol = d.protocol || "pairwise";
    this.scale = d.scale || "";
    this.ties = d.ties === "true";
    this.bothBad = d.bothBad === "true";
    this.minMs = parseInt(d.minMs || "0", 10) || 0;
    this.total = parseInt(d.trialCount || "0", 10) || 0;
    this.answered = parseInt(d.answered || "0", 10) || 0;
    this.doneUrl = d.doneUrl;
    this.pendingKey = "eyetest:pending:" + this.token;
    this.draftKey = "eyetest:draft:" + this.token;
    this.viewer = new ET.SyncViewer(document.getElementById("viewer"));
    this.trial = null;
    this.answers = {};
    this.active = 0;
    this.shownAt = null;
    this.elapsedBefore = 0;
    this.busy = true;
    this.feedback = false;
    this.preloaded = [];
  }

  Rater.prototype.start = function () {
    var self = this;
    this._keys();
    this._sizeCheck();
    window.addEventListener("resize", function () { self._sizeCheck(); });
    window.addEventListener("blur", function () { self.viewer.setFlicker(false); });
    window.addEventListener("pagehide", function () { self._saveDraft(); });
    document.getElementById("submit").addEventListener("click", function () { self.submit(); });
    var ctx = document.getElementById("toggle-context");
    if (ctx) ctx.addEventListener("click", function () { self._toggleContext(); });
    this._toolbar();
    var pending = ET.store.get(this.pendingKey);
    if (pending && pending.client_id) {
      this._status("Saving your last answer\u2026");
      return this._send(pending).then(function () { return self.next(); })
        .catch(function (err) { self._fatal(err); });
    }
    return this.next();
  };

  Rater.prototype._toolbar = function () {
    var self = this;
    var act = {
      "zoom-in": function () { self.viewer.zoomBy(1); },
      "zoom-out": function () { self.viewer.zoomBy(-1); },
      "zoom-fit": function () { self.viewer.fit(); },
      "zoom-pixel": function () { self.viewer.pixel(); },
    };
    Object.keys(act).forEach(function (id) {
      var b = document.getElementById(id);
      if (b) b.addEventListener("click", act[id]);
    });
  };

  Rater.prototype._sizeCheck = function () {
    var small = window.innerWidth < MIN_W || window.innerHeight < MIN_H;
    document.body.classList.toggle("too-small", small);
    var s = document.getElementById("too-small-size");
    if (s) s.textContent = window.innerWidth + " \u00d7 " + window.innerHeight;
    this.tooSmall = small;
  };

  Rater.prototype._status = function (text) {
    var s = document.getElementById("status");
    if (s) s.textContent = text || "";
  };

  /* ---- trials ---------------------------------------------------------- */

  Rater.prototype.next = function () {
    var self = this;
    this.busy = true;
    this._status("Loading\u2026");
    var url = this.api + "/sessions/" + encodeURIComponent(this.token) + "/next";
    return ET.fetchJSON(url, { headers: { Accept: "application/json" }, cache: "no-store" }, function (n) {
      ET.banner("Connection problem \u2013 retrying (attempt " + n + ")\u2026", "warn");
    }).then(function (res) {
      ET.banner("");
      if (res.status === 204) {
        ET.store.remove(self.draftKey);
        window.location.assign(self.doneUrl);
        return null;
      }
      return self.show(res.body);
    }).catch(function (err) {
      if (err && err.status === 409 && !/closed/i.test(err.reason || "")) {
        // paused: keep the page and look again in a while
        ET.banner("The study is paused at the moment; this page continues by itself when it resumes.", "warn");
        self._status("");
        return ET.sleep(15000).then(function () { return self.next(); });
      }
      self._fatal(err);
    });
  };

  Rater.prototype._fatal = function (err) {
    this.busy = true;
    var msg = err && err.status === 410 ? "This session has expired: no answer came for a long time, so " +
        "its remaining screens went to other participants. The answers you gave are saved. " +
        "Please return the study on the platform you came from, or contact the researcher." :
      err && err.status === 404 ? "This session does not exist." :
      err && err.status === 403 ? "This session is not yours." :
      err && err.status === 409 ? (document.body.dataset.closedMessage ||
        "The study has been closed and takes no more answers. Thank you for your help.") :
      "Something went wrong: " + (err && err.message ? err.message : String(err));
    ET.banner(msg, "error");
    this._status("");
  };

  Rater.prototype.show = function (trial) {
    var self = this;
    this.trial = trial;
    this.answers = {};
    this.elapsedBefore = 0;
    this.active = 0;
    this.feedback = false;
    document.body.classList.remove("show-feedback");
    var fb = document.getElementById("feedback");
    if (fb) fb.hidden = true;
    var draft = ET.store.get(this.draftKey);
    if (draft && draft.trial === trial.trial) {
      this.answers = draft.answers || {};
      this.elapsedBefore = draft.elapsed || 0;
    }
    this._renderQuestions();
    this._progress();
    this.shownAt = null;
    this._status("Loading images\u2026");
    document.body.dataset.trial = String(trial.trial);
    var retried = false;
    return this.viewer.load(this._panels(trial), function (n) {
      retried = true;
      ET.banner("The images did not load \u2013 trying again (attempt " + n + ")\u2026 Your answers so far are kept.", "warn");
    }).then(function () {
      if (retried) ET.banner("");
      self.shownAt = performance.now();
      self.busy = false;
      self._status(self._notice || "");
      self._notice = null;
      self._updateSubmit();
      self._preload(trial);
    }).catch(function (err) { self._fatal(err); });
  };

  /* {slot, url, alt} of a stimulus: the alt text is the panel's label only (a
   * stimulus URL is opaque and the label names the slot, never the method). */
  function withAlt(stimulus, alt) {
    return { slot: stimulus.slot, url: stimulus.url, alt: alt };
  }

  Rater.prototype._panels = function (trial) {
    var stim = trial.stimuli || [];
    var bySlot = {};
    stim.forEach(function (s) { bySlot[s.slot] = s; });
    var pair = !!(bySlot.A && bySlot.B);
    var context = trial.context || (pair ? stim.filter(function (s) { return s.slot !== "A" && s.slot !== "B"; })[0] : null);
    var ctxEl = document.getElementById("panel-context");
    var aEl = document.getElementById("panel-A"), bEl = document.getElementById("panel-B");
    var panels = [];
    if (context && ctxEl) {
      ctxEl.hidden = false;
      var name = String(context.slot).toLowerCase();
      this.contextLabel = context.label || (name === "gt" || name === "reference" ? "Reference (original)" :
        name === "lq" ? "Input (low quality)" : "Context");
      ctxEl.querySelector(".panel-label").textContent = this.contextLabel;
      panels.push({ el: ctxEl, images: [withAlt(context, this.contextLabel)], show: context.slot });
    } else if (ctxEl) {
      ctxEl.hidden = true;
    }
    document.body.classList.toggle("has-context", !!context);
    document.body.classList.toggle("single", !pair);
    if (pair) {
      aEl.querySelector(".panel-label").textContent = "A";
      aEl.querySelector(".flicker-tag").textContent = "showing B";
      var pairImages = [withAlt(bySlot.A, "Image A"), withAlt(bySlot.B, "Image B")];
      panels.push({ el: aEl, images: pairImages, show: "A", alt: "B", main: true });
      panels.push({ el: bEl, images: pairImages, show: "B", alt: "A" });
      bEl.hidden = false;
    } else {
      var only = stim.filter(function (s) { return s !== context; })[0];
      aEl.querySelector(".panel-label").textContent = "Image to rate";
      var images = [withAlt(only, "Image to rate")];
      var p = { el: aEl, images: images, show: only.slot, main: true };
      if (context) {
        // flicker between the rated image and its context, in place
        images.push(withAlt(context, this.contextLabel));
        p.alt = context.slot;
        aEl.querySelector(".flicker-tag").textContent = "showing " + this.contextLabel.toLowerCase();
      }
      panels.push(p);
      bEl.hidden = true;
    }
    return panels;
  };

  Rater.prototype._preload = function (trial) {
    var urls = trial.preload || (trial.next && trial.next.stimuli ? trial.next.stimuli.map(function (s) { return s.url; }) : []);
    this.preloaded = (urls || []).map(function (u) {
      var im = new Image();
      im.decoding = "async";
      im.src = typeof u === "string" ? u : u.url;
      return im;
    });
  };

  Rater.prototype._progress = function () {
    if (this.trial && typeof this.trial.position === "number") this.answered = this.trial.position;
    if (this.trial && typeof this.trial.trial_count === "number") this.total = this.trial.trial_count;
    var done = this.answered, total = Math.max(this.total, done + 1);
    var bar = document.getElementById("progress-bar");
    if (bar) bar.style.width = (100 * done / total).toFixed(1) + "%";
    var txt = document.getElementById("progress-text");
    if (txt) txt.textContent = (this.trial && this.trial.training ? "Practice " : "Trial ") + Math.min(done + 1, total) + " of " + total;
    var p = document.getElementById("progress");
    if (p) {
      p.setAttribute("aria-valuenow", String(done));
      p.setAttribute("aria-valuemax", String(total));
    }
  };

  /* ---- questions ------------------------------------------------------- */

  Rater.prototype.elapsed = function () {
    return this.elapsedBefore + (this.shownAt === null ? 0 : performance.now() - this.shownAt);
  };

  Rater.prototype._saveDraft = function () {
    if (!this.trial || this.feedback) return;
    ET.store.set(this.draftKey, { trial: this.trial.trial, answers: this.answers, elapsed: Math.round(this.elapsed()) });
  };

  Rater.prototype._updateSubmit = function () {
    var self = this;
    var btn = document.getElementById("submit");
    var ready = this._complete() && !this.busy;
    var wait = this.minMs - this.elapsed();
    btn.disabled = !ready || wait > 0;
    btn.classList.toggle("ready", ready && wait <= 0);
    window.clearTimeout(this._submitTimer);
    if (ready && wait > 0) {
      this._submitTimer = window.setTimeout(function () { self._updateSubmit(); }, wait + 20);
    }
    var hint = document.getElementById("hint");
    if (hint && wait <= 0) hint.textContent = "";
  };

  /* ---- submission -------------------------------------------------------- */

  Rater.prototype.submit = function () {
    if (this.feedback) return this._afterFeedback();
    if (this.busy || !this.trial) return null;
    var hint = document.getElementById("hint");
    if (!this._complete()) {
      var open = this.questions.findIndex(function (info) { return !info.row.classList.contains("answered"); });
      this.setActive(open);
      if (hint) hint.textContent = "Please answer every question first.";
      return null;
    }
    var wait = this.minMs - this.elapsed();
    if (wait > 0) {
      if (hint) hint.textContent = "Please take a moment to compare the images carefully (" + (wait / 1000).toFixed(1) + " s).";
      return null;
    }
    var payload = {
      trial: this.trial.trial,
      answers: this.answers,
      client_id: ET.uuid(),
      elapsed_ms: Math.round(this.elapsed()),
    };
    ET.store.set(this.pendingKey, payload);
    ET.store.remove(this.draftKey);
    this.busy = true;
    this._updateSubmit();
    this._status("Saving\u2026");
    var self = this;
    var trial = this.trial;
    return this._send(payload).then(function (body) {
      var fb = self._feedbackFor(trial, body);
      if (fb) return self._showFeedback(fb);
      return self.next();
    }).catch(function (err) { self._fatal(err); });
  };

  /* Send a pending judgment until the server acknowledges it; resolves to the
   * server's answer (null when the server refused it for good). */
  Rater.prototype._send = function (payload) {
    var self = this;
    var url = this.api + "/sessions/" + encodeURIComponent(this.token) + "/judgments";
    return ET.fetchJSON(url, {
      method: "POST",
      headers: { "Content-Type": "application/json", Accept: "application/json" },
      body: JSON.stringify(payload),
    }, function (n) {
      ET.banner("Connection lost \u2013 your answer is kept and will be sent (retry " + n + ")\u2026", "warn");
    }).then(function (res) {
      ET.store.remove(self.pendingKey);
      self.answered += 1;
      ET.banner("");
      return res.body || {};
    }).catch(function (err) {
      // A final 4xx: the server will never accept this judgment (e.g. the
      // trial is no longer the current one).  Drop it; /next decides what
      // comes now.  A session that is gone or not ours is fatal.
      ET.store.remove(self.pendingKey);
      if (err && (err.status === 404 || err.status === 410 || err.status === 403 || err.status === 401)) throw err;
      self._notice = err && err.status === 409 && !/closed/i.test(err.reason || "") ?
        "That screen had already been answered (in another tab or window?); here is the next one." :
        "Your previous answer was not accepted (" + (err && err.message ? err.message : String(err)) + ").";
      return null;
    });
  };

  /* Feedback for a training trial: the expected answers per dimension come
   * with the trial (`expected`) or with the server's acknowledgement
   * (`feedback.expected` / `expected`). */
  Rater.prototype._feedbackFor = function (trial, body) {
    body = body || {};
    var fb = body.feedback || {};
    var expected = fb.expected || body.expected || trial.expected;
    if (!(trial.training || body.training || fb.expected) || expected === undefined || expected === null) return null;
    if (typeof expected !== "object" || Array.isArray(expected)) {
      var all = {};
      (trial.questions || []).forEach(function (q) { all[q.dimension] = expected; });
      expected = all;
    }
    return { expected: expected, explanation: fb.explanation || body.explanation || trial.explanation || "" };
  };

  Rater.prototype._showFeedback = function (info) {
    var self = this;
    var expected = info.expected;
    function ok(exp, got) {
      return Array.isArray(exp) ? exp.map(String).indexOf(String(got)) >= 0 : String(exp) === String(got);
    }
    var wrong = Object.keys(expected).filter(function (dim) { return !ok(expected[dim], self.answers[dim]); });
    this.feedback = true;
    this.busy = false;
    document.body.classList.add("show-feedback");
    var fb = document.getElementById("feedback");
    fb.hidden = false;
    fb.classList.toggle("correct", wrong.length === 0);
    fb.classList.toggle("wrong", wrong.length > 0);
    fb.querySelector(".verdict").textContent = wrong.length === 0 ? "Correct \u2013 well done." : "Not quite.";
    var expl = info.explanation;
    if (!expl) {
      var better = null;
      Object.keys(expected).forEach(function (dim) { if (!better) better = role(expected[dim]); });
      expl = better === "left" ? "Image A was the original; image B was a blurred copy. Zoom in and use flicker (hold Space) to see such differences." :
        better === "right" ? "Image B was the original; image A was a blurred copy. Zoom in and use flicker (hold Space) to see such differences." :
        "The highlighted answer is the expected one.";
    }
    fb.querySelector(".explanation").textContent = expl + " Press Enter to continue.";
    this.questions.forEach(function (q) {
      var exp = expected[q.q.dimension];
      q.buttons.forEach(function (b) { b.classList.toggle("expected", exp !== undefined && ok(exp, b.dataset.choice)); });
    });
    var btn = document.getElementById("submit");
    btn.disabled = false;
    btn.classList.add("ready");
    this._status("");
    return null;
  };

  Rater.prototype._afterFeedback = function () {
    this.feedback = false;
    document.body.classList.remove("show-feedback");
    return this.next();
  };

  Rater.prototype._toggleContext = function () {
    document.body.classList.toggle("context-hidden");
    this.viewer.render();
  };

  /* ---- keyboard ---------------------------------------------------------- */

  Rater.prototype._keys = function () {
    var self = this;
    document.addEventListener("keydown", function (ev) { self._keydown(ev); }, true);
    document.addEventListener("keyup", function (ev) {
      if (ev.key === " " || ev.key === "f" || ev.key === "F") {
        ev.preventDefault();
        self.viewer.setFlicker(false);
        if (self._flickerHint) self._status("");
        self._flickerHint = false;
      }
    }, true);
  };

  Rater.prototype._keydown = function (ev) {
    if (this.tooSmall) return;
    var k = ev.key;
    var mod = ev.shiftKey || ev.ctrlKey || ev.altKey || ev.metaKey;
    var handled = true;
    var PAN = 60;
    // leave the browser's own shortcuts alone (Ctrl+0 / Ctrl+- zoom, Ctrl+R, ...),
    // except arrows, which pan with any modifier (and so never navigate back)
    if ((ev.ctrlKey || ev.metaKey || ev.altKey) && k.indexOf("Arrow") !== 0) return;
    var help = document.getElementById("help");
    if (help && !help.hidden) {
      // the help covers the images: no answer and no Enter until it is closed
      if (k === "?" || k === "h" || k === "H" || k === "Escape") {
        help.hidden = true;
        this._status("");
      } else if (!/^(Shift|Control|Alt|Meta)$/.test(k)) {
        this._status("Close the keyboard help first (Esc).");
      }
      ev.preventDefault();
      ev.stopPropagation();
      return;
    }
    if (k === " " || k === "f" || k === "F") {
      this.viewer.setFlicker(true);
    } else if (k.indexOf("Arrow") === 0 && mod) {
      var dx = k === "ArrowLeft" ? PAN : k === "ArrowRight" ? -PAN : 0;
      var dy = k === "ArrowUp" ? PAN : k === "ArrowDown" ? -PAN : 0;
      this.viewer.panBy(dx, dy);
    } else if (k === "+" || k === "=") {
      this.viewer.zoomBy(1);
    } else if (k === "-" || k === "_") {
      this.viewer.zoomBy(-1);
    } else if (k === "0") {
      this.viewer.fit();
    } else if (k === "p" || k === "P") {
      if (this.viewer.state.mode === "pixel") this.viewer.fit(); else this.viewer.pixel();
    } else if (k === "c" || k === "C") {
      if (document.body.classList.contains("has-context")) this._toggleContext();
    } else if (k === "Enter") {
      if (!ev.repeat) this.submit();
    } else if (k === "Tab") {
      this.setActive(this.active + (ev.shiftKey ? -1 : 1));
    } else if (k === "?" || k === "h" || k === "H") {
      if (help) help.hidden = false;
    } else if (!mod && this.questions && this.questions.length && !ev.repeat) {
      handled = this._answerKey(k);
    } else {
      handled = false;
    }
    if (handled) {
      ev.preventDefault();
      ev.stopPropagation();
    }
  };

  Object.keys(ET.questionMethods).forEach(function (k) { Rater.prototype[k] = ET.questionMethods[k]; });
  ET.Rater = Rater;
  document.addEventListener("DOMContentLoaded", function () {
    if (document.body.dataset.page === "trial") {
      window.eyetestRater = new Rater();
      window.eyetestRater.start();
    }
  });
})();
