// The machine table of an HTML page: a run report (azhotpatch/fleet/_report_html.py) or a
// posture (azhotpatch/fleet/_posture_html.py). Rows are drawn a page at a time from the
// embedded data, so a page of tens of thousands of machines opens at once; sorting and
// filtering work on the data.
//
// The data names its own layout, written once, in Python: "fields" is the order of the values
// in each row; "columns" the table's columns ({key, label, class, title}: a cell's class, and
// the field shown as its tooltip); "searched" the fields the text filter searches;
// "category" the field the select filters by and draws as a coloured pill ("categories" its
// values, "colors" their colours); "shared" the fields whose rows hold a number into a list
// written once (a subscription, a message). Everything here reads a value by its field's
// name, never by its position, and names no field of its own.
(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("machine-data").textContent);
  var position = {};
  data.fields.forEach(function (name, i) { position[name] = i; });
  var pageSize = 100;
  var state = {key: null, descending: false, text: "", category: "", page: 0};
  var head = document.querySelector("#machines-table thead tr");
  var body = document.querySelector("#machines-table tbody");
  var filter = document.getElementById("filter");
  var category = document.getElementById("category");
  var rows = data.rows;
  var matching = rows;

  function value(row, name) {
    if (!(name in position)) { throw new Error("the page has no field " + name); }
    return row[position[name]];
  }

  function escape(text) {
    return String(text === null || text === undefined ? "" : text)
      .replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;")
      .replace(/"/g, "&quot;");
  }

  // Values written once each (subscriptions, messages) are referred to by number.
  rows.forEach(function (row) {
    Object.keys(data.shared).forEach(function (name) {
      row[position[name]] = data.shared[name][value(row, name)] || "";
    });
    row.haystack = data.searched.map(function (name) { return value(row, name); })
      .join(" ").toLowerCase();
  });

  head.innerHTML = data.columns.map(function (column) {
    return '<th><button type="button" data-key="' + escape(column.key) + '">' +
      escape(column.label) + "</button></th>";
  }).join("");
  data.categories.forEach(function (name) {
    var option = document.createElement("option");
    option.value = option.textContent = name;
    category.appendChild(option);
  });

  function cell(row, column) {
    var text = escape(value(row, column.key));
    if (column.key === data.category) {
      text = '<span class="pill ' + text + '" style="background:' +
        escape(data.colors[value(row, column.key)] || "") + '">' + text + "</span>";
    }
    var title = column.title ? ' title="' + escape(value(row, column.title)) + '"' : "";
    var kind = column["class"] ? ' class="' + escape(column["class"]) + '"' : "";
    return "<td" + kind + title + ">" + text + "</td>";
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
      return (!state.category || value(row, data.category) === state.category) &&
             (!text || row.haystack.indexOf(text) !== -1);
    });
    if (state.key) { matching = matching.slice().sort(compare); }
  }

  function draw() {
    var pages = Math.max(1, Math.ceil(matching.length / pageSize));
    state.page = Math.min(state.page, pages - 1);
    var start = state.page * pageSize;
    body.innerHTML = matching.slice(start, start + pageSize).map(function (row) {
      return '<tr data-category="' + escape(value(row, data.category)) + '">' +
        data.columns.map(function (column) { return cell(row, column); }).join("") +
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
  category.addEventListener("change", function () {
    state.category = category.value; state.page = 0; update();
  });
  document.getElementById("previous").addEventListener("click", function () {
    state.page -= 1; draw();
  });
  document.getElementById("next").addEventListener("click", function () {
    state.page += 1; draw();
  });
  // A reason's row shows its machines: its category selected, its code as the filter.
  document.querySelectorAll("#reasons-table tr[data-code] button").forEach(function (button) {
    button.addEventListener("click", function () {
      var row = button.closest("tr");
      category.value = state.category = row.getAttribute("data-category");
      filter.value = state.text = row.getAttribute("data-code");
      state.page = 0;
      update();
      document.getElementById("machines").scrollIntoView();
    });
  });
  update();
}());
