/* eyetest rater page: the questions of a trial (one row per dimension), their
 * answers and the answer keys.  Methods mixed into ET.Rater (rater.js). */
(function () {
  "use strict";
  var ET = (window.Eyetest = window.Eyetest || {});
  var Q = {};

  var SCALE_LABELS = {
    acr5: { 5: "Excellent", 4: "Good", 3: "Fair", 2: "Poor", 1: "Bad" },
    dcr5: { 5: "Imperceptible", 4: "Perceptible, not annoying", 3: "Slightly annoying", 2: "Annoying", 1: "Very annoying" },
  };
  var PAIR_LABELS = { left: "A is better", right: "B is better", tie: "Same / not sure", bothbad: "Both bad" };
  var PAIR_KEYS = { left: "\u2190", right: "\u2192", tie: "\u2193", bothbad: "X" };

  /* Which key role a pairwise choice has: left (A), right (B), tie, bothbad. */
  function role(choice) {
    var c = String(choice).toLowerCase().replace(/[\s_-]+/g, "");
    if (c === "a" || c === "left") return "left";
    if (c === "b" || c === "right") return "right";
    if (/bothbad|neither/.test(c)) return "bothbad";
    if (/tie|same|equal|notsure|nopref|unsure/.test(c)) return "tie";
    return null;
  }

  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text;
    return e;
  }

  Q._choices = function (q) {
    if (this.protocol === "rating" || this.trial.kind === "rating") {
      if (this.scale === "continuous100" || q.scale === "continuous100") return { slider: true };
      var list = Array.isArray(q.choices) && q.choices.length ? q.choices : [1, 2, 3, 4, 5];
      return { rating: list.slice().sort(function (a, b) { return Number(a) - Number(b); }) };
    }
    var choices = Array.isArray(q.choices) && q.choices.length ? q.choices : (function (t, bb) {
      var c = ["A", "B"];
      if (t) c.push("tie");
      if (bb) c.push("both_bad");
      return c;
    })(this.ties, this.bothBad);
    var order = { left: 0, tie: 1, right: 2, bothbad: 3 };
    return {
      pair: choices.filter(function (c) { return role(c) !== null; })
        .sort(function (a, b) { return order[role(a)] - order[role(b)]; }),
    };
  };

  Q._renderQuestions = function () {
    var self = this;
    var box = document.getElementById("questions");
    box.textContent = "";
    this.questions = (this.trial.questions || []).map(function (q, i) {
      var row = el("div", "question");
      row.dataset.dimension = q.dimension;
      row.dataset.index = String(i);
      var prompt = el("div", "prompt", q.prompt || q.dimension);
      prompt.id = "prompt-" + i;
      row.appendChild(prompt);
      var spec = self._choices(q);
      var choicesEl = el("div", "choices");
      // screen readers: the buttons of a row belong to its question
      choicesEl.setAttribute("role", "group");
      choicesEl.setAttribute("aria-labelledby", prompt.id);
      var info = { q: q, row: row, spec: spec, buttons: [] };
      if (spec.pair) {
        spec.pair.forEach(function (c) {
          var r = role(c);
          var b = el("button", "choice " + r);
          b.type = "button";
          b.tabIndex = -1;
          b.dataset.choice = String(c);
          b.setAttribute("aria-pressed", "false");
          b.appendChild(el("kbd", "", PAIR_KEYS[r]));
          b.appendChild(document.createTextNode(" " + PAIR_LABELS[r]));
          b.addEventListener("click", function () { self.answer(i, c); });
          choicesEl.appendChild(b);
          info.buttons.push(b);
        });
      } else if (spec.rating) {
        var labels = SCALE_LABELS[q.scale || self.scale] || SCALE_LABELS.acr5;
        if (Array.isArray(q.labels) && Array.isArray(q.choices) && q.labels.length === q.choices.length) {
          labels = {};
          q.choices.forEach(function (c, k) { labels[Number(c)] = q.labels[k]; });
        }
        spec.rating.forEach(function (c, k) {
          var b = el("button", "choice rating");
          b.type = "button";
          b.tabIndex = -1;
          b.dataset.choice = String(c);
          b.setAttribute("aria-pressed", "false");
          b.appendChild(el("kbd", "", String(k + 1)));
          b.appendChild(document.createTextNode(" " + (labels[Number(c)] || String(c))));
          b.addEventListener("click", function () { self.answer(i, c); });
          choicesEl.appendChild(b);
          info.buttons.push(b);
        });
      } else {
        var wrap = el("label", "slider");
        wrap.appendChild(el("span", "anchor", "Bad"));
        var input = document.createElement("input");
        input.type = "range";
        input.min = "0";
        input.max = "100";
        input.step = "1";
        input.value = "50";
        input.tabIndex = -1;
        input.className = "untouched";
        input.setAttribute("aria-label", q.prompt || q.dimension);
        input.addEventListener("input", function () { self.answer(i, parseInt(input.value, 10), true); });
        // a click on the thumb where it already is (50 on an untouched slider) changes no
        // value, so fires no "input": take the value the rater pointed at as the answer
        var pressed = false;
        input.addEventListener("pointerdown", function () { pressed = true; });
        input.addEventListener("pointerup", function () {
          if (pressed) self.answer(i, parseInt(input.value, 10), true);
          pressed = false;
        });
        wrap.appendChild(input);
        wrap.appendChild(el("span", "anchor", "Excellent"));
        var val = el("output", "slider-value", "\u2013");
        wrap.appendChild(val);
        choicesEl.appendChild(wrap);
        info.slider = input;
        info.output = val;
      }
      row.appendChild(choicesEl);
      row.addEventListener("click", function () { self.setActive(i); });
      box.appendChild(row);
      return info;
    });
    this.questions.forEach(function (info) {
      var dim = info.q.dimension;
      if (dim in self.answers) self._mark(info, self.answers[dim]);
    });
    var first = this.questions.findIndex(function (info) { return !(info.q.dimension in self.answers); });
    this.setActive(first < 0 ? 0 : first);
  };

  Q._mark = function (info, value) {
    info.buttons.forEach(function (b) {
      var on = b.dataset.choice === String(value);
      b.classList.toggle("selected", on);
      b.setAttribute("aria-pressed", on ? "true" : "false");
    });
    if (info.slider) {
      info.slider.value = String(value);
      info.slider.classList.remove("untouched");
      info.output.textContent = String(value);
    }
    info.row.classList.add("answered");
    info.row.dataset.answer = String(value);
  };

  Q.setActive = function (i) {
    if (!this.questions || !this.questions.length) return;
    var n = this.questions.length;
    this.active = ((i % n) + n) % n;
    var self = this;
    this.questions.forEach(function (info, k) { info.row.classList.toggle("active", k === self.active); });
  };

  Q.answer = function (i, value, stay) {
    if (this.busy || this.feedback) return;
    if (this.viewer && this.viewer.flicker) {
      // while flicker is held the panels show each other's image: "A" would be ambiguous
      this._flickerHint = true;
      this._status("Release Space (or F) first: while you hold it, the images are swapped.");
      var held = this.questions[i];
      if (held && held.slider) {
        var dim = held.q.dimension;
        held.slider.value = String(dim in this.answers ? this.answers[dim] : 50);   // the slider keeps its answer
      }
      return;
    }
    var info = this.questions[i];
    this.answers[info.q.dimension] = value;
    this._mark(info, value);
    this._saveDraft();
    if (!stay) {
      var self = this;
      var nextOpen = -1;
      for (var k = 1; k <= this.questions.length; k++) {
        var j = (i + k) % this.questions.length;
        if (!(this.questions[j].q.dimension in self.answers)) { nextOpen = j; break; }
      }
      this.setActive(nextOpen >= 0 ? nextOpen : i);
    } else {
      this.setActive(i);
    }
    this._updateSubmit();
  };

  Q._complete = function () {
    var self = this;
    return this.questions && this.questions.every(function (info) { return info.q.dimension in self.answers; });
  };

  Q._answerKey = function (k) {
    var info = this.questions[this.active];
    if (!info) return false;
    if (info.spec.pair) {
      var want = { ArrowLeft: "left", ArrowRight: "right", ArrowDown: "tie", x: "bothbad", X: "bothbad" }[k];
      if (!want) return false;
      var c = info.spec.pair.filter(function (x) { return role(x) === want; })[0];
      if (c !== undefined) this.answer(this.active, c);
      return true;
    }
    if (info.spec.rating) {
      if (!/^[1-9]$/.test(k)) return false;
      var idx = parseInt(k, 10) - 1;
      if (idx < info.spec.rating.length) this.answer(this.active, info.spec.rating[idx]);
      return true;
    }
    if (info.slider) {
      var step = { ArrowLeft: -1, ArrowRight: 1, ArrowDown: -1, ArrowUp: 1, PageDown: -10, PageUp: 10 }[k];
      var cur = parseInt(info.slider.value, 10);
      if (k === "Home") step = -cur;
      if (k === "End") step = 100 - cur;
      if (step === undefined) return false;
      var v = info.slider.classList.contains("untouched") ? 50 : Math.max(0, Math.min(100, cur + step));
      this.answer(this.active, v, true);
      return true;
    }
    return false;
  };

  ET.questionMethods = Q;
  ET.choiceRole = role;
})();
