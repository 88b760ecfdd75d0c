/* eyetest study link: consent, then start (or resume) the session. */
(function () {
  "use strict";
  var ET = window.Eyetest;
  /* the trial page's minimum window (CSS px; rater.js) */
  var MIN_W = 1000, MIN_H = 560;

  function start() {
    var d = document.body.dataset;
    var agree = document.getElementById("agree");
    var button = document.getElementById("start");
    var status = document.getElementById("start-status");
    var participant = d.participant;
    if (!participant) {
      // plain link without an id: an anonymous id kept by this browser
      var key = "eyetest:anon:" + d.study;
      participant = ET.store.get(key);
      if (!participant) {
        participant = "anon-" + ET.uuid();
        ET.store.set(key, participant);
      }
    }
    // Starting is idempotent per participant on the server: coming back to
    // the link and agreeing again resumes the same session.
    var sessionKey = "eyetest:session:" + d.study + ":" + participant;
    // A screen that cannot give the trial page its minimum window (a phone, a tablet in either
    // orientation, a browser zoomed far in) cannot take part: say so before a session is made for
    // it (its trials would be booked by the scheduler and never answered).
    var sw = window.screen.width, sh = window.screen.height;
    var screenTooSmall = Math.max(sw, sh) < MIN_W || Math.min(sw, sh) < MIN_H;
    if (screenTooSmall) {
      document.getElementById("screen-size").textContent = sw + " \u00d7 " + sh;
      document.getElementById("screen-notice").hidden = false;
      agree.disabled = true;
    }
    agree.addEventListener("change", function () { button.disabled = !agree.checked || screenTooSmall; });
    button.disabled = !agree.checked || screenTooSmall;
    document.getElementById("start-form").addEventListener("submit", function (ev) {
      ev.preventDefault();
      if (!agree.checked || d.preview === "true" || screenTooSmall) return;
      button.disabled = true;
      status.textContent = "Starting\u2026";
      var meta = {};
      try { meta = JSON.parse(d.meta || "{}"); } catch (e) { meta = {}; }
      meta.consent = true;
      // meta values are scalars (the API refuses nested objects)
      meta.screen_width = window.screen.width;
      meta.screen_height = window.screen.height;
      meta.window_width = window.innerWidth;
      meta.window_height = window.innerHeight;
      meta.device_pixel_ratio = window.devicePixelRatio || 1;
      meta.user_agent = navigator.userAgent.slice(0, 300);
      ET.fetchJSON(d.api + "/studies/" + encodeURIComponent(d.study) + "/sessions", {
        method: "POST",
        headers: { "Content-Type": "application/json", Accept: "application/json" },
        body: JSON.stringify({ participant: participant, meta: meta }),
      }, function (n) {
        status.textContent = "Connection problem \u2013 retrying (" + n + ")\u2026";
      }).then(function (res) {
        var token = res.body.session;
        ET.store.set(sessionKey, token);
        window.location.assign("/s/" + encodeURIComponent(token));
      }).catch(function (err) {
        button.disabled = false;
        status.textContent = err.status === 409 ? "The study is not taking new participants right now (it may be paused or closed)." :
          "Could not start: " + err.message;
      });
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    if (document.body.dataset.page === "start") start();
  });
})();
