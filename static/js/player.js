/* Greenlight's reviewer player: sprite scrub previews, waveform, HH:MM:SS:FF timecode, frame
 * step, J/K/L, loop range and clickable QC segments, over a plain <video>.
 *
 * Every [data-player] element becomes one player on htmx:load (which htmx also fires for the
 * first page) and is torn down on htmx:beforeCleanupElement, so page swaps leave no players
 * or listeners behind. Per-player listeners hang off one AbortController; the only global
 * listeners (keys, htmx events) are added once, however often this file is loaded.
 */
(function () {
  "use strict";
  if (window.GreenlightPlayer) return;

  const players = new Map(); // root element -> Player
  let active = null; // the player keys go to: the last one used, else the first

  function pad(value) {
    return String(value).padStart(2, "0");
  }

  // Frame index at time t; the epsilon keeps t = n / fps from reading as frame n - 1.
  function frameAt(t, fps) {
    return Math.floor(t * fps + 1e-6);
  }

  // Non-drop-frame timecode: frames counted at the clip's rate, labelled at its rounded rate.
  function timecode(t, fps) {
    const base = Math.max(1, Math.round(fps));
    const frames = frameAt(Math.max(0, t), fps);
    const ff = frames % base;
    const seconds = Math.floor(frames / base);
    return `${pad(Math.floor(seconds / 3600))}:${pad(Math.floor(seconds / 60) % 60)}:${pad(seconds % 60)}:${pad(ff)}`;
  }

  function parseVttTime(text) {
    const parts = text.trim().split(":").map(Number);
    return parts.reduce((total, part) => total * 60 + part, 0);
  }

  // The thumbnails track: cues of `sprite.jpg#xywh=x,y,w,h`, resolved against the track URL.
  function parseThumbnails(text, trackUrl) {
    const cues = [];
    for (const block of text.replace(/\r/g, "").split(/\n\n+/)) {
      const lines = block.split("\n").filter(Boolean);
      const timing = lines.findIndex((line) => line.includes("-->"));
      if (timing < 0 || !lines[timing + 1]) continue;
      const [from, to] = lines[timing].split("-->");
      const [path, fragment] = lines[timing + 1].trim().split("#xywh=");
      if (!fragment) continue;
      const [x, y, w, h] = fragment.split(",").map(Number);
      cues.push({
        start: parseVttTime(from),
        end: parseVttTime(to.trim().split(/\s+/)[0]),
        url: new URL(path, trackUrl).href,
        x, y, w, h,
      });
    }
    return cues;
  }

  class Player {
    constructor(root) {
      this.root = root;
      this.video = root.querySelector("video");
      this.fps = parseFloat(root.dataset.fps) || 25;
      this.track = root.querySelector("[data-track]");
      this.preview = root.querySelector("[data-preview]");
      this.previewFrame = root.querySelector("[data-preview-frame]");
      this.previewTime = root.querySelector("[data-preview-time]");
      this.timecodeOut = root.querySelector("[data-timecode]");
      this.rateOut = root.querySelector("[data-rate]");
      this.loopLabel = root.querySelector("[data-loop-label]");
      this.loopRange = root.querySelector("[data-loop-range]");
      this.played = root.querySelector("[data-played]");
      this.playhead = root.querySelector("[data-playhead]");
      this.cues = [];
      this.loop = { in: null, out: null };
      this.reverse = 0; // reverse speed while J is held in effect, 0 when not reversing
      this.frameRequest = 0;
      this.lastTick = 0;
      this.aborter = new AbortController();
      this.bind();
      this.loadThumbnails();
      this.render();
    }

    get duration() {
      const known = this.video.duration;
      return Number.isFinite(known) && known > 0 ? known : parseFloat(this.root.dataset.duration) || 0;
    }

    bind() {
      const on = (target, type, handler) =>
        target.addEventListener(type, handler, { signal: this.aborter.signal });
      for (const type of ["timeupdate", "seeked", "loadedmetadata", "play", "pause", "ratechange"]) {
        on(this.video, type, () => this.render());
      }
      on(this.video, "play", () => this.startTicking());
      on(this.root, "pointerdown", () => (active = this));
      on(this.root, "focusin", () => (active = this));
      on(this.root, "click", (event) => {
        const button = event.target.closest("[data-action]");
        if (button && this.root.contains(button)) this.act(button.dataset.action);
      });
      if (this.track) {
        on(this.track, "mousemove", (event) => this.showPreview(event));
        on(this.track, "mouseleave", () => (this.preview.hidden = true));
        on(this.track, "click", (event) => {
          const segment = event.target.closest("[data-segment]");
          this.seek(segment ? parseFloat(segment.dataset.start) : this.timeAtPointer(event));
        });
      }
    }

    async loadThumbnails() {
      const url = this.root.dataset.thumbnails;
      if (!url) return;
      try {
        const response = await fetch(url, { credentials: "same-origin", signal: this.aborter.signal });
        if (!response.ok) return;
        const trackUrl = new URL(url, window.location.href).href;
        this.cues = parseThumbnails(await response.text(), trackUrl);
        this.root.dataset.thumbnailsReady = String(this.cues.length);
      } catch (error) {
        if (error.name !== "AbortError") console.warn("thumbnails track", error);
      }
    }

    timeAtPointer(event) {
      const box = this.track.getBoundingClientRect();
      const fraction = Math.min(1, Math.max(0, (event.clientX - box.left) / box.width));
      return fraction * this.duration;
    }

    cueAt(t) {
      return this.cues.find((cue) => t >= cue.start && t < cue.end) || this.cues[this.cues.length - 1];
    }

    showPreview(event) {
      const t = this.timeAtPointer(event);
      const box = this.track.getBoundingClientRect();
      const cue = this.cues.length ? this.cueAt(t) : null;
      this.previewTime.textContent = timecode(t, this.fps);
      if (cue) {
        Object.assign(this.previewFrame.style, {
          width: `${cue.w}px`,
          height: `${cue.h}px`,
          backgroundImage: `url("${cue.url}")`,
          backgroundPosition: `-${cue.x}px -${cue.y}px`,
        });
        this.previewFrame.dataset.cue = String(this.cues.indexOf(cue));
      }
      this.previewFrame.hidden = !cue;
      const width = cue ? cue.w : 90;
      const left = Math.min(Math.max(event.clientX - box.left - width / 2, 0), box.width - width);
      this.preview.style.left = `${left}px`;
      this.preview.dataset.time = t.toFixed(3);
      this.preview.hidden = false;
    }

    seek(t) {
      const end = Math.max(0, this.duration - 0.5 / this.fps);
      this.video.currentTime = Math.min(Math.max(0, t), end);
      this.render();
    }

    stepFrames(delta) {
      this.stopReverse();
      this.video.pause();
      const frame = frameAt(this.video.currentTime, this.fps) + delta;
      // The middle of the frame, so rounding can never land on its neighbour.
      this.seek((Math.max(0, frame) + 0.5) / this.fps);
    }

    act(action) {
      switch (action) {
        case "toggle":
          this.stopReverse();
          if (this.video.paused || this.video.ended) {
            this.video.playbackRate = 1;
            this.video.play();
          } else {
            this.video.pause();
          }
          break;
        case "forward": // L: play, or play faster
          if (this.reverse) {
            this.stopReverse();
          } else if (this.video.paused) {
            this.video.playbackRate = 1;
            this.video.play();
          } else {
            this.video.playbackRate = Math.min(this.video.playbackRate * 2, 4);
          }
          break;
        case "stop": // K
          this.stopReverse();
          this.video.pause();
          break;
        case "reverse": // J: browsers cannot play backwards, so step back on every frame
          this.video.pause();
          this.reverse = this.reverse ? Math.min(this.reverse * 2, 4) : 1;
          this.startTicking();
          break;
        case "prev-frame":
          this.stepFrames(-1);
          break;
        case "next-frame":
          this.stepFrames(1);
          break;
        case "mark-in":
          this.loop.in = this.video.currentTime;
          if (this.loop.out !== null && this.loop.out <= this.loop.in) this.loop.out = null;
          break;
        case "mark-out":
          this.loop.out = this.video.currentTime;
          if (this.loop.in === null || this.loop.in >= this.loop.out) this.loop.in = 0;
          break;
        case "clear-loop":
          this.loop = { in: null, out: null };
          break;
        default:
          return;
      }
      this.render();
    }

    stopReverse() {
      this.reverse = 0;
    }

    startTicking() {
      if (this.frameRequest) return;
      this.lastTick = performance.now();
      const tick = (now) => {
        this.frameRequest = 0;
        if (!this.root.isConnected) return;
        const elapsed = (now - this.lastTick) / 1000;
        this.lastTick = now;
        if (this.reverse) {
          const t = this.video.currentTime - elapsed * this.reverse;
          this.video.currentTime = Math.max(0, t);
          if (t <= 0) this.reverse = 0;
        }
        if (this.loop.out !== null && !this.video.paused && this.video.currentTime >= this.loop.out) {
          this.video.currentTime = this.loop.in || 0;
        }
        this.render();
        if (this.reverse || !this.video.paused) this.frameRequest = requestAnimationFrame(tick);
      };
      this.frameRequest = requestAnimationFrame(tick);
    }

    render() {
      const t = this.video.currentTime || 0;
      const duration = this.duration;
      const percent = duration ? (100 * t) / duration : 0;
      this.timecodeOut.textContent = timecode(t, this.fps);
      this.played.style.width = `${percent}%`;
      this.playhead.style.left = `${percent}%`;
      const rate = this.reverse ? -this.reverse : this.video.paused ? 0 : this.video.playbackRate;
      this.rateOut.textContent = rate && rate !== 1 ? `${rate > 0 ? "" : "◀ "}${Math.abs(rate)}×` : "";
      const toggle = this.root.querySelector('[data-action="toggle"]');
      if (toggle) toggle.textContent = this.video.paused ? "\u25B6\uFE0E" : "\u275A\u275A";
      const { in: from, out: to } = this.loop;
      const looping = to !== null && duration;
      this.loopRange.hidden = !looping;
      if (looping) {
        this.loopRange.style.left = `${(100 * (from || 0)) / duration}%`;
        this.loopRange.style.width = `${(100 * (to - (from || 0))) / duration}%`;
      }
      this.loopLabel.textContent = looping
        ? `Loop ${timecode(from || 0, this.fps)} – ${timecode(to, this.fps)}`
        : from !== null
          ? `Loop from ${timecode(from, this.fps)}`
          : "";
    }

    destroy() {
      this.aborter.abort();
      if (this.frameRequest) cancelAnimationFrame(this.frameRequest);
      this.frameRequest = 0;
      this.video.pause();
    }
  }

  const KEYS = {
    " ": "toggle",
    k: "stop",
    K: "stop",
    j: "reverse",
    J: "reverse",
    l: "forward",
    L: "forward",
    ",": "prev-frame",
    ".": "next-frame",
    i: "mark-in",
    I: "mark-in",
    o: "mark-out",
    O: "mark-out",
    x: "clear-loop",
    X: "clear-loop",
  };

  function onKey(event) {
    if (event.defaultPrevented || event.ctrlKey || event.metaKey || event.altKey) return;
    const target = event.target;
    if (target.closest && target.closest("input, textarea, select, [contenteditable]")) return;
    const action = KEYS[event.key];
    if (!action) return;
    if (!active || !active.root.isConnected) active = players.values().next().value || null;
    if (!active) return;
    event.preventDefault();
    active.act(action);
  }

  function init(scope) {
    const roots = scope.matches && scope.matches("[data-player]") ? [scope] : [];
    roots.push(...(scope.querySelectorAll ? scope.querySelectorAll("[data-player]") : []));
    for (const root of roots) {
      if (!players.has(root)) players.set(root, new Player(root));
    }
    // Players whose markup left the page without a cleanup event (a plain innerHTML swap).
    for (const [root, player] of players) {
      if (!root.isConnected) destroy(root, player);
    }
  }

  function destroy(root, player = players.get(root)) {
    if (!player) return;
    player.destroy();
    players.delete(root);
    if (active === player) active = null;
  }

  document.addEventListener("keydown", onKey);
  document.addEventListener("htmx:load", (event) => init(event.detail.elt));
  document.addEventListener("htmx:beforeCleanupElement", (event) => destroy(event.detail.elt));
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", () => init(document));
  } else {
    init(document);
  }

  window.GreenlightPlayer = {
    init,
    timecode,
    get count() {
      return players.size;
    },
    playerFor: (element) => players.get(element.closest("[data-player]")),
  };
})();
