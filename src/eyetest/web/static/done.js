/* eyetest completion page: hand the rater back to the crowd platform. */
(function () {
  "use strict";
  document.addEventListener("DOMContentLoaded", function () {
    var d = document.body.dataset;
    if (d.page !== "done") return;
    var ET = window.Eyetest;
    ET.store.remove("eyetest:pending:" + d.session);
    ET.store.remove("eyetest:draft:" + d.session);
    var form = document.getElementById("mturk-form");
    if (form) {
      window.setTimeout(function () { form.submit(); }, 1500);
    } else if (d.redirect) {
      window.setTimeout(function () { window.location.assign(d.redirect); }, 1500);
    }
  });
})();
