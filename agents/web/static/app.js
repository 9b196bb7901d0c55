// signwriter review: keyboard shortcuts and the overlay toggle (no inline script: CSP).
// A approve · R reject (asks for the reason first) · E edit a region's text · 1–9 attempt
// J / K next / previous asset · O QA overlay on/off · Enter (queue) open the focused item.
(function () {
  "use strict";
  function typing(el) {
    return el && (el.tagName === "INPUT" || el.tagName === "TEXTAREA" || el.tagName === "SELECT" ||
                  el.isContentEditable);
  }
  function click(id) { var b = document.getElementById(id); if (b) { b.click(); return true; } return false; }
  function go(id) { var a = document.getElementById(id); if (a) { window.location.href = a.href; return true; } return false; }

  document.addEventListener("keydown", function (ev) {
    if (ev.ctrlKey || ev.metaKey || ev.altKey) return;
    if (typing(ev.target)) {
      if (ev.key === "Escape") ev.target.blur();
      return;
    }
    var k = ev.key.toLowerCase();
    var form = document.getElementById("decide");
    var done = false;
    if (form && k === "a") done = click("approve");
    else if (form && k === "r") {
      var note = document.getElementById("note");
      if (note && !note.value.trim()) { note.focus(); note.placeholder = "Why is it rejected? Then press Reject."; done = true; }
      else done = click("reject");
    } else if (form && k === "e") {
      var text = document.getElementById("text");
      if (text) { text.focus(); text.select(); done = true; }
    } else if (form && k >= "1" && k <= "9") {
      var radio = form.querySelector('input[name="attempt"][value="' + k + '"]');
      if (radio) { radio.checked = true; done = true; }
    } else if (k === "o") {
      var t = document.getElementById("overlay-toggle");
      if (t) { t.checked = !t.checked; t.dispatchEvent(new Event("change", { bubbles: true })); done = true; }
    } else if (k === "j") done = go("next") || moveTile(1);
    else if (k === "k") done = go("prev") || moveTile(-1);
    if (done) ev.preventDefault();
  });

  // the queue: J/K move the focus through the tiles
  function moveTile(step) {
    var tiles = Array.prototype.slice.call(document.querySelectorAll(".grid .tile a.name"));
    if (!tiles.length) return false;
    var i = tiles.indexOf(document.activeElement);
    var next = tiles[Math.max(0, Math.min(tiles.length - 1, i < 0 ? 0 : i + step))];
    next.focus();
    return true;
  }

  document.addEventListener("change", function (ev) {
    if (ev.target && ev.target.id === "overlay-toggle") {
      var stage = document.getElementById("stage");
      if (stage) stage.classList.toggle("with-overlay", ev.target.checked);
    }
    if (ev.target && ev.target.id === "region") {  // edit: start from the region's text
      var opt = ev.target.options[ev.target.selectedIndex];
      var text = document.getElementById("text");
      if (opt && text) text.value = opt.getAttribute("data-text") || "";
    }
  });

  // the queue refreshes itself; not while items are selected for bulk approval
  document.addEventListener("htmx:beforeRequest", function (ev) {
    var q = document.getElementById("queue");
    if (q && ev.target === q && q.querySelector('input[name="item"]:checked')) ev.preventDefault();
  });
  // a finished background decision: show the new attempt
  // (htmx:load fires on every element htmx puts in the page, the swapped status line too)
  document.addEventListener("htmx:load", function (ev) {
    var s = ev.target;
    if (s && s.id === "status" && s.hasAttribute("data-final")) {
      var a = document.getElementById("reload");
      if (a) window.location.href = a.href;
    }
  });
})();
