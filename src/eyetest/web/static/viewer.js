/* eyetest rater page: synchronised zoom / pan viewer with a 1:1 pixel view and flicker.
 *
 * Every panel shows its image through the same view state {scale, cx, cy}:
 * `scale` is CSS pixels per pixel of the reference image (the A stimulus) and
 * (cx, cy) is the reference-image point at the centre of the viewport.  An
 * image whose size differs from the reference (an LQ context image of an x4
 * super-resolution study) is stretched by reference_width / its_width, so the
 * same scene point is under the same screen point in every panel.
 *
 * The transform is `translate(tx px, ty px) scale(s)` with origin 0 0 and the
 * translation rounded to whole device pixels, so the 100% view (scale =
 * 1 / devicePixelRatio) maps one image pixel to one device pixel exactly.
 * Zoomed in past 1:1, images are drawn with `image-rendering: pixelated`.
 *
 * Flicker: each A/B panel holds both images stacked; while flicker is on the
 * A panel shows B and the B panel shows A (no reload, no decode delay).
 */
(function () {
  "use strict";
  var ET = (window.Eyetest = window.Eyetest || {});

  var MAX_SCALE = 32;
  var ZOOM_STEP = 1.25;

  function SyncViewer(root) {
    this.root = root;
    this.panels = [];
    this.refSize = null; // {w, h} of the reference image
    this.state = { scale: 1, cx: 0, cy: 0, mode: "fit" };
    this.flicker = false;
    this._drag = null;
    this._bind();
  }

  SyncViewer.prototype._bind = function () {
    var self = this;
    this.root.addEventListener("wheel", function (ev) {
      var vp = ev.target.closest && ev.target.closest(".viewport");
      if (!vp || !self.refSize) return;
      ev.preventDefault();
      var dy = ev.deltaY * (ev.deltaMode === 1 ? 16 : ev.deltaMode === 2 ? 400 : 1);
      var rect = vp.getBoundingClientRect();
      self.zoomAt(Math.exp(-dy * 0.002), ev.clientX - rect.left, ev.clientY - rect.top, rect);
    }, { passive: false });
    this.root.addEventListener("pointerdown", function (ev) {
      var vp = ev.target.closest && ev.target.closest(".viewport");
      if (!vp || ev.button !== 0 || !self.refSize) return;
      ev.preventDefault();
      vp.setPointerCapture(ev.pointerId);
      self._drag = { id: ev.pointerId, x: ev.clientX, y: ev.clientY, el: vp };
      self.root.classList.add("dragging");
    });
    this.root.addEventListener("pointermove", function (ev) {
      var d = self._drag;
      if (!d || d.id !== ev.pointerId) return;
      self.panBy(ev.clientX - d.x, ev.clientY - d.y);
      d.x = ev.clientX;
      d.y = ev.clientY;
    });
    var end = function (ev) {
      if (self._drag && self._drag.id === ev.pointerId) {
        self._drag = null;
        self.root.classList.remove("dragging");
      }
    };
    this.root.addEventListener("pointerup", end);
    this.root.addEventListener("pointercancel", end);
    if (window.ResizeObserver) {
      this._ro = new ResizeObserver(function () { self.render(); });
      this._ro.observe(this.root);
    } else {
      window.addEventListener("resize", function () { self.render(); });
    }
  };

  /* Show a trial's stimuli.  `panels` is a list of {el: panel element,
   * images: [{slot, url, alt}], show: slot shown normally, alt: slot shown
   * while flickering (optional), main: true for the panel whose image sets
   * the reference size}.  Resolves once every image has loaded and decoded.
   * An image that fails to load (a dropped connection) is requested again
   * with exponential backoff (0.5 s doubling up to 15 s, with jitter) until
   * it loads, calling onRetry(failures so far, slot, wait ms) before each wait; a later
   * load() stops the retries of an earlier one. */
  SyncViewer.prototype.load = function (panels, onRetry) {
    var self = this;
    var generation = (this._generation || 0) + 1;
    this._generation = generation;
    this.panels = panels;
    this.refSize = null;
    this.flicker = false;
    this.root.classList.remove("flicker");
    var loads = [];
    var failures = 0;
    panels.forEach(function (p) {
      var vp = p.el.querySelector(".viewport");
      vp.textContent = "";
      p.imgs = {};
      p.images.forEach(function (st) {
        var img = document.createElement("img");
        img.alt = st.alt || "";
        img.draggable = false;
        img.decoding = "sync";
        img.dataset.slot = st.slot;
        img.hidden = st.slot !== p.show;
        vp.appendChild(img);
        p.imgs[st.slot] = img;
        loads.push(new Promise(function (resolve) {
          var attempt = 0;
          img.onload = function () { resolve(img); };
          img.onerror = function () {
            if (self._generation !== generation) return;
            attempt += 1;
            failures += 1;
            var wait = Math.min(15000, 500 * Math.pow(2, attempt - 1)) * (0.75 + 0.5 * Math.random());
            if (onRetry) onRetry(failures, st.slot, wait);
            window.setTimeout(function () {
              if (self._generation !== generation) return;
              img.removeAttribute("src");
              img.src = st.url;
            }, wait);
          };
        }));
        img.src = st.url;
      });
      p.el.dataset.showing = p.show;
    });
    return Promise.all(loads).then(function () {
      var main = panels.filter(function (p) { return p.main; })[0] || panels[0];
      var ref = main.imgs[main.show];
      self.refSize = { w: ref.naturalWidth, h: ref.naturalHeight };
      self.fit();
      return Promise.all(panels.map(function (p) {
        return Promise.all(Object.keys(p.imgs).map(function (k) {
          var im = p.imgs[k];
          return im.decode ? im.decode().catch(function () {}) : null;
        }));
      }));
    });
  };

  SyncViewer.prototype._viewport = function () {
    for (var i = 0; i < this.panels.length; i++) {
      var vp = this.panels[i].el.querySelector(".viewport");
      if (vp && vp.clientWidth > 0) return { w: vp.clientWidth, h: vp.clientHeight };
    }
    return { w: 1, h: 1 };
  };

  /* Fit: the whole image in the panel, shrunk if needed but never enlarged
     past 1 CSS pixel per image pixel (the browser's own size for an image):
     enlarging by default would change how visible the artefacts under study
     are; a rater who wants to look closer zooms in. */
  SyncViewer.prototype.fitScale = function () {
    var v = this._viewport();
    if (!this.refSize) return 1;
    return Math.min(v.w / this.refSize.w, v.h / this.refSize.h, 1);
  };

  SyncViewer.prototype.fit = function () {
    if (!this.refSize) return;
    this.state = { scale: this.fitScale(), cx: this.refSize.w / 2, cy: this.refSize.h / 2, mode: "fit" };
    this.render();
  };

  /* 100% view: one image pixel on one device pixel. */
  SyncViewer.prototype.pixel = function () {
    if (!this.refSize) return;
    this.state.scale = 1 / (window.devicePixelRatio || 1);
    this.state.mode = "pixel";
    this.render();
  };

  SyncViewer.prototype.zoomAt = function (factor, px, py, rect) {
    if (!this.refSize) return;
    var v = rect ? { w: rect.width, h: rect.height } : this._viewport();
    if (px === undefined) { px = v.w / 2; py = v.h / 2; }
    var s = this.state.scale;
    var lo = Math.min(this.fitScale(), 1 / (window.devicePixelRatio || 1));
    var s2 = Math.max(lo, Math.min(MAX_SCALE, s * factor));
    var ix = this.state.cx + (px - v.w / 2) / s;
    var iy = this.state.cy + (py - v.h / 2) / s;
    this.state.cx = ix - (px - v.w / 2) / s2;
    this.state.cy = iy - (py - v.h / 2) / s2;
    this.state.scale = s2;
    this.state.mode = "zoom";
    this.render();
  };

  SyncViewer.prototype.zoomBy = function (steps) {
    this.zoomAt(Math.pow(ZOOM_STEP, steps));
  };

  /* Pan by a screen displacement (CSS px): content follows the pointer. */
  SyncViewer.prototype.panBy = function (dx, dy) {
    if (!this.refSize) return;
    this.state.cx -= dx / this.state.scale;
    this.state.cy -= dy / this.state.scale;
    if (this.state.mode === "fit") this.state.mode = "zoom";
    this.render();
  };

  SyncViewer.prototype._clamp = function (v) {
    var s = this.state.scale, W = this.refSize.w, H = this.refSize.h;
    var hw = v.w / (2 * s), hh = v.h / (2 * s);
    this.state.cx = W <= 2 * hw ? W / 2 : Math.max(hw, Math.min(W - hw, this.state.cx));
    this.state.cy = H <= 2 * hh ? H / 2 : Math.max(hh, Math.min(H - hh, this.state.cy));
  };

  /* Give the visible panels equal whole-pixel widths, so every viewport
   * starts on a pixel boundary and A and B are rendered identically. */
  SyncViewer.prototype._layout = function () {
    var shown = Array.prototype.filter.call(this.root.querySelectorAll(".panel"), function (el) {
      return !el.hidden && getComputedStyle(el).display !== "none";
    });
    if (!shown.length) return;
    var cs = getComputedStyle(this.root);
    var gap = parseFloat(cs.columnGap) || 0;
    var avail = this.root.clientWidth - (parseFloat(cs.paddingLeft) || 0) - (parseFloat(cs.paddingRight) || 0);
    var w = Math.max(1, Math.floor((avail - gap * (shown.length - 1)) / shown.length));
    shown.forEach(function (el) { el.style.flex = "0 0 " + w + "px"; });
  };

  SyncViewer.prototype.render = function () {
    this._layout();
    if (!this.refSize || !this.panels.length) return;
    var v = this._viewport();
    if (this.state.mode === "fit") {
      this.state.scale = this.fitScale();
      this.state.cx = this.refSize.w / 2;
      this.state.cy = this.refSize.h / 2;
    }
    this._clamp(v);
    var dpr = window.devicePixelRatio || 1;
    var s = this.state.scale;
    var tx = Math.round((v.w / 2 - this.state.cx * s) * dpr) / dpr;
    var ty = Math.round((v.h / 2 - this.state.cy * s) * dpr) / dpr;
    var refW = this.refSize.w;
    this.panels.forEach(function (p) {
      Object.keys(p.imgs).forEach(function (k) {
        var img = p.imgs[k];
        var scale = s * (img.naturalWidth ? refW / img.naturalWidth : 1);
        var t = "translate(" + tx + "px, " + ty + "px) scale(" + scale + ")";
        img.style.transform = t;
        img.dataset.transform = t;
        img.classList.toggle("pixelated", scale * dpr > 1.0001);
      });
    });
    this.root.dataset.scale = String(s);
    this.root.dataset.cx = String(this.state.cx);
    this.root.dataset.cy = String(this.state.cy);
    this.root.dataset.mode = this.state.mode;
    var pct = Math.round(s * dpr * 100);
    var label = document.getElementById("zoom-level");
    if (label) label.textContent = this.state.mode === "fit" ? "Fit (" + pct + "%)" : pct + "%";
  };

  /* While on, every panel with an alternative shows it instead (the A panel
   * shows B and the B panel shows A). */
  SyncViewer.prototype.setFlicker = function (on) {
    on = !!on;
    if (on === this.flicker) return;
    if (on && !this.panels.some(function (p) { return p.alt; })) return;
    this.flicker = on;
    this.root.classList.toggle("flicker", on);
    this.panels.forEach(function (p) {
      if (!p.alt) return;
      var show = on ? p.alt : p.show;
      Object.keys(p.imgs).forEach(function (k) { p.imgs[k].hidden = k !== show; });
      p.el.dataset.showing = show;
    });
  };

  ET.SyncViewer = SyncViewer;
})();
