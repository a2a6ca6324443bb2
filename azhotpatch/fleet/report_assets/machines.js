// The machine table of a run report (azhotpatch/fleet/_report_html.py renders the page).
// Rows are drawn a page at a time from the embedded data, so a report of tens of thousands
// of machines opens at once; sorting and filtering work on the data.
//
// The data names its own layout: "fields" is the order of the values in each row and
// "columns" the table's columns ({key, label}), both written once, in Python. Everything
// here reads a value by its field's name, never by its position.
(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("machine-data").textContent);
  var position = {};
  data.fields.forEach(function (name, i) { position[name] = i; });
  var searched = ["name", "subscription", "group", "kind", "outcome", "code", "azure",
                  "request", "message"];
  var pageSize = 100;
  var state = {key: null, descending: false, text: "", outcome: "", page: 0};
  var head = document.querySelector("#machines-table thead tr");
  var body = document.querySelector("#machines-table tbody");
  var filter = document.getElementById("filter");
  var outcome = document.getElementById("outcome");
  var rows = data.rows;
  var matching = rows;

  function value(row, name) {
    if (!(name in position)) { throw new Error("the report has no field " + name); }
    return row[position[name]];
  }

  function escape(text) {
    return String(text === null || text === undefined ? "" : text)
      .replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;")
      .replace(/"/g, "&quot;");
  }

  // Subscriptions and messages are written once each and referred to by number.
  rows.forEach(function (row) {
    row[position.subscription] = data.subscriptions[value(row, "subscription")] || "";
    row[position.message] = data.messages[value(row, "message")] || "";
    row.haystack = searched.map(function (name) { return value(row, name); })
      .join(" ").toLowerCase();
  });

  head.innerHTML = data.columns.map(function (column) {
    return '<th><button type="button" data-key="' + escape(column.key) + '">' +
      escape(column.label) + "</button></th>";
  }).join("");
  data.outcomes.forEach(function (name) {
    var option = document.createElement("option");
    option.value = option.textContent = name;
    outcome.appendChild(option);
  });

  // How a column's cell looks, where it is more than its text.
  var cells = {
    name: function (row) {
      return '<td title="' + escape(value(row, "subscription")) + '">' +
        escape(value(row, "name")) + "</td>";
    },
    outcome: function (row) {
      var name = value(row, "outcome");
      return '<td><span class="pill ' + escape(name) + '" style="background:' +
        escape(data.colors[name] || "") + '">' + escape(name) + "</span></td>";
    },
    code: function (row) { return '<td class="code">' + escape(value(row, "code")) + "</td>"; },
    at: function (row) { return '<td class="num">' + escape(value(row, "at")) + "</td>"; },
    message: function (row) {
      return '<td class="message">' + escape(value(row, "message")) + "</td>";
    }
  };

  function cell(row, key) {
    return cells[key] ? cells[key](row) : "<td>" + escape(value(row, key)) + "</td>";
  }

  function compare(a, b) {
    var x = value(a, state.key), y = value(b, state.key);
    if (x === y) { return 0; }
    if (x === null || x === "") { return 1; }
    if (y === null || y === "") { return -1; }
    var order = x < y ? -1 : 1;
    return state.descending ? -order : order;
  }

  function select() {
    var text = state.text.toLowerCase();
    matching = rows.filter(function (row) {
      return (!state.outcome || value(row, "outcome") === state.outcome) &&
             (!text || row.haystack.indexOf(text) !== -1);
    });
    if (state.key) { matching = matching.slice().sort(compare); }
  }

  function draw() {
    var pages = Math.max(1, Math.ceil(matching.length / pageSize));
    state.page = Math.min(state.page, pages - 1);
    var start = state.page * pageSize;
    body.innerHTML = matching.slice(start, start + pageSize).map(function (row) {
      return '<tr data-outcome="' + escape(value(row, "outcome")) + '">' +
        data.columns.map(function (column) { return cell(row, column.key); }).join("") +
        "</tr>";
    }).join("");
    document.getElementById("shown").textContent =
      matching.length.toLocaleString("en") + " of " + rows.length.toLocaleString("en") +
      " machines";
    document.getElementById("page").textContent = "page " + (state.page + 1) + " of " + pages;
    document.getElementById("previous").disabled = state.page === 0;
    document.getElementById("next").disabled = state.page >= pages - 1;
  }

  function update() { select(); draw(); }

  document.querySelectorAll("#machines-table th button").forEach(function (button) {
    button.addEventListener("click", function () {
      var key = button.getAttribute("data-key");
      state.descending = state.key === key ? !state.descending : false;
      state.key = key;
      document.querySelectorAll("#machines-table th button").forEach(function (other) {
        other.removeAttribute("aria-sort");
      });
      button.setAttribute("aria-sort", state.descending ? "descending" : "ascending");
      state.page = 0;
      update();
    });
  });
  filter.addEventListener("input", function () {
    state.text = filter.value; state.page = 0; update();
  });
  outcome.addEventListener("change", function () {
    state.outcome = outcome.value; state.page = 0; update();
  });
  document.getElementById("previous").addEventListener("click", function () {
    state.page -= 1; draw();
  });
  document.getElementById("next").addEventListener("click", function () {
    state.page += 1; draw();
  });
  document.querySelectorAll("#reasons-table tr[data-code] button").forEach(function (button) {
    button.addEventListener("click", function () {
      var row = button.closest("tr");
      outcome.value = state.outcome = row.getAttribute("data-outcome");
      filter.value = state.text = row.getAttribute("data-code");
      state.page = 0;
      update();
      document.getElementById("machines").scrollIntoView();
    });
  });
  update();
}());
