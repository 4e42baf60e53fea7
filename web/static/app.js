// twimlbin web form: line numbers that follow typing and live validation
// in the editor, copy buttons, and more preview parameter rows. Every page
// works without this file.
(function () {
  "use strict";
  document.documentElement.classList.add("js");

  // Copy buttons: hidden until this script can make them work.
  document.querySelectorAll("button.copy[data-copy]").forEach(function (button) {
    button.hidden = false;
    button.addEventListener("click", function () {
      var status = button.nextElementSibling;
      copyText(button.dataset.copy).then(function () {
        say(status, "Copied.");
      }, function () {
        say(status, "Could not copy: select the text and copy it.");
      });
    });
  });

  function copyText(text) {
    if (navigator.clipboard && window.isSecureContext) {
      return navigator.clipboard.writeText(text);
    }
    return new Promise(function (resolve, reject) {
      var area = document.createElement("textarea");
      area.value = text;
      area.setAttribute("readonly", "");
      area.className = "offscreen";
      document.body.appendChild(area);
      area.select();
      var ok = document.execCommand("copy");
      area.remove();
      if (ok) { resolve(); } else { reject(); }
    });
  }

  function say(status, text) {
    if (!status || !status.classList.contains("copy-status")) { return; }
    status.textContent = text;
    setTimeout(function () { status.textContent = ""; }, 2500);
  }

  // More parameter rows.
  document.querySelectorAll("button.add-param").forEach(function (button) {
    button.hidden = false;
    button.addEventListener("click", function () {
      var rows = button.parentNode.querySelectorAll(".param-row");
      var last = rows[rows.length - 1];
      var row = last.cloneNode(true);
      var n = rows.length;
      row.querySelectorAll("label").forEach(function (label, i) {
        var id = (i === 0 ? "pn" : "pv") + n;
        label.htmlFor = id;
        label.textContent = "Parameter " + (n + 1) + (i === 0 ? " name" : " value");
      });
      row.querySelectorAll("input").forEach(function (input, i) {
        input.id = (i === 0 ? "pn" : "pv") + n;
        input.value = "";
      });
      button.parentNode.insertBefore(row, button);
      row.querySelector("input").focus();
    });
  });

  // Going to the line and column of a diagnostic.
  document.addEventListener("click", function (event) {
    var link = event.target.closest && event.target.closest("a.goto");
    var area = document.getElementById("template");
    if (!link || !area) { return; }
    event.preventDefault();
    var line = parseInt(link.dataset.line, 10);
    var column = parseInt(link.dataset.column, 10) || 1;
    var lines = area.value.split("\n");
    var offset = 0;
    for (var i = 0; i < line - 1 && i < lines.length; i++) { offset += lines[i].length + 1; }
    offset += Math.min(column - 1, (lines[line - 1] || "").length);
    area.focus();
    area.setSelectionRange(offset, offset);
    var mark = document.getElementById("L" + line);
    if (mark) { mark.scrollIntoView({ block: "center" }); }
  });

  var editor = document.querySelector(".editor");
  if (editor) { setupEditor(editor); }

  function setupEditor(editor) {
    var area = editor.querySelector("textarea");
    var gutter = editor.querySelector("ol.lines");
    var list = document.getElementById("diag-list");
    var summary = document.getElementById("diag-summary");
    var token = area.form.querySelector("input[name=csrf_token]").value;
    var url = editor.dataset.validate;
    var timer = 0;
    var sent = 0;

    function syncLines() {
      var n = area.value.split("\n").length;
      while (gutter.children.length < n) {
        var li = document.createElement("li");
        li.id = "L" + (gutter.children.length + 1);
        gutter.appendChild(li);
      }
      while (gutter.children.length > n) { gutter.lastElementChild.remove(); }
    }

    // The gutter follows the textarea if it ever scrolls.
    area.addEventListener("scroll", function () {
      gutter.style.transform = "translateY(" + (-area.scrollTop) + "px)";
    });

    area.addEventListener("input", function () {
      syncLines();
      clearTimeout(timer);
      timer = setTimeout(validate, 400);
    });

    function validate() {
      var mine = ++sent;
      var body = new URLSearchParams();
      body.set("csrf_token", token);
      body.set("template", area.value);
      fetch(url, { method: "POST", body: body, credentials: "same-origin", headers: { "Accept": "application/json" } })
        .then(function (response) {
          if (!response.ok) { throw new Error("HTTP " + response.status); }
          return response.json();
        })
        .then(function (result) {
          if (mine === sent) { show(result.diagnostics || []); }
        })
        .catch(function () { /* the check on save still runs */ });
    }

    function show(diags) {
      Array.prototype.forEach.call(gutter.children, function (li) {
        li.className = "";
        li.removeAttribute("data-message");
      });
      list.textContent = "";
      var errors = 0;
      diags.forEach(function (d) {
        var isError = d.severity === "error";
        if (isError) { errors++; }
        var li = gutter.children[d.line - 1];
        if (li && (!li.className || (li.className === "warning" && isError))) {
          li.className = d.severity;
          li.dataset.message = d.code + " " + d.message;
        }
        list.appendChild(item(d, isError));
      });
      summary.textContent = sentence(errors, diags.length - errors);
    }

    function item(d, isError) {
      var li = document.createElement("li");
      li.className = "diag " + d.severity;
      var badge = document.createElement("span");
      badge.className = "badge";
      badge.textContent = isError ? "Error" : "Warning";
      li.appendChild(badge);
      li.appendChild(document.createTextNode(" "));
      if (d.line > 0) {
        var a = document.createElement("a");
        a.className = "goto";
        a.href = "#L" + d.line;
        a.dataset.line = d.line;
        a.dataset.column = d.column;
        a.textContent = "line " + d.line + ", column " + d.column;
        li.appendChild(a);
        li.appendChild(document.createTextNode(": "));
      }
      var code = document.createElement("code");
      code.textContent = d.code;
      li.appendChild(code);
      li.appendChild(document.createTextNode(" " + d.message));
      return li;
    }

    function plural(n, word) { return n === 1 ? "1 " + word : n + " " + word + "s"; }

    // The same sentences as the server's diagSummary.
    function sentence(errors, warnings) {
      if (errors > 0) {
        return plural(errors, "error") + ", " + plural(warnings, "warning") + ". A template with errors is not saved.";
      }
      if (warnings > 0) {
        return plural(warnings, "warning") + ". The template can be saved; Twilio may not do what you expect.";
      }
      return "No problems found.";
    }
  }
})();
