/*! semclust related-articles widget: no dependencies, served by `semclust serve` at /widget.js.
 *
 *   <div data-semclust-related="DOC_ID" data-semclust-k="5"></div>
 *   <script src="https://api.example.org/widget.js" defer></script>
 *
 * Each element with data-semclust-related gets a list of links to the related articles.
 * Options (data attributes on the element, or on the <script> tag for all elements):
 *   data-semclust-api    base URL of the API (default: where widget.js was loaded from)
 *   data-semclust-k      number of links, 1 to 100 (default 5)
 *   data-semclust-href   link for articles without a URL, "{id}" replaced by the article id
 *   data-semclust-title  a heading shown above the list
 *   data-semclust-empty  text shown when there is nothing to list (no related articles, or an
 *                        id the API does not know); default "No related articles.", "" for none
 * The element's data-semclust-state becomes "loading", then "ready", "empty" (nothing to list,
 * or an unknown id) or "error" (the API failed or is unreachable: nothing shown, the reason in
 * the console), and a "semclust:rendered" event is dispatched on it. Call
 * window.semclust.renderRelated() after adding elements to a page. API text is set with
 * textContent only; links must be http(s).
 */
(function () {
  "use strict";

  var script = document.currentScript;
  var scriptBase = "";
  if (script && script.src) {
    scriptBase = script.src.replace(/\/widget\.js(?:[?#].*)?$/, "");
  }

  function option(el, name) {
    var value = el.getAttribute("data-semclust-" + name);
    if (value === null && script) {
      value = script.getAttribute("data-semclust-" + name);
    }
    return value;
  }

  function safeUrl(value) {
    if (typeof value !== "string" || value === "") {
      return null;
    }
    try {
      var url = new URL(value, document.baseURI);
      return url.protocol === "http:" || url.protocol === "https:" ? url.href : null;
    } catch (e) {
      return null;
    }
  }

  function clear(el) {
    while (el.firstChild) {
      el.removeChild(el.firstChild);
    }
  }

  function finish(el, state, count) {
    el.setAttribute("data-semclust-state", state);
    var event;
    try {
      event = new CustomEvent("semclust:rendered", { detail: { state: state, count: count } });
    } catch (e) {
      return;
    }
    el.dispatchEvent(event);
  }

  function buildList(el, results) {
    var template = option(el, "href");
    var list = document.createElement("ul");
    list.className = "semclust-related-list";
    for (var i = 0; i < results.length; i++) {
      var hit = results[i] || {};
      var id = String(hit.doc_id || hit.id || "");
      var href = safeUrl(hit.url);
      if (!href && template) {
        href = safeUrl(template.split("{id}").join(encodeURIComponent(id)));
      }
      var item = document.createElement("li");
      item.className = "semclust-related-item";
      var node = document.createElement(href ? "a" : "span");
      if (href) {
        node.setAttribute("href", href);
      }
      node.textContent = String(hit.title || id);
      item.appendChild(node);
      list.appendChild(item);
    }
    return list;
  }

  function showEmpty(el) {
    var text = option(el, "empty");
    if (text === null) {
      text = "No related articles.";
    }
    if (text) {
      var note = document.createElement("p");
      note.className = "semclust-related-empty";
      note.textContent = text;
      el.appendChild(note);
    }
  }

  function render(el) {
    var id = el.getAttribute("data-semclust-related");
    if (!id) {
      return Promise.resolve();
    }
    var k = parseInt(option(el, "k") || "5", 10);
    k = k >= 1 ? Math.min(k, 100) : 5;
    var base = (option(el, "api") || scriptBase).replace(/\/+$/, "");
    var url = base + "/related/" + encodeURIComponent(id) + "?k=" + k;
    el.setAttribute("data-semclust-state", "loading");
    return fetch(url, { credentials: "omit", headers: { Accept: "application/json" } })
      .then(function (response) {
        if (response.status === 404) {
          return { results: [], unknown: true };
        }
        if (!response.ok) {
          throw new Error("semclust: HTTP " + response.status + " for " + url);
        }
        return response.json();
      })
      .then(function (data) {
        var results = data && Array.isArray(data.results) ? data.results : [];
        clear(el);
        if (data && data.unknown && window.console) {
          window.console.warn("semclust: no article with id " + JSON.stringify(id));
        }
        if (!results.length) {
          showEmpty(el);
          finish(el, "empty", 0);
          return;
        }
        var title = option(el, "title");
        if (title) {
          var heading = document.createElement("p");
          heading.className = "semclust-related-title";
          heading.textContent = title;
          el.appendChild(heading);
        }
        el.appendChild(buildList(el, results));
        finish(el, "ready", results.length);
      })
      .catch(function (err) {
        finish(el, "error", 0);
        if (window.console) {
          window.console.warn(err && err.message ? err.message : err);
        }
      });
  }

  function renderRelated(root) {
    var nodes = (root || document).querySelectorAll("[data-semclust-related]");
    var jobs = [];
    for (var i = 0; i < nodes.length; i++) {
      jobs.push(render(nodes[i]));
    }
    return Promise.all(jobs);
  }

  window.semclust = window.semclust || {};
  window.semclust.renderRelated = renderRelated;
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", function () {
      renderRelated();
    });
  } else {
    renderRelated();
  }
})();
