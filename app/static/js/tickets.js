// The ticket list: a select-all box for the bulk changes, and a count of the ticked rows.
(function () {
  function update(list) {
    var boxes = list.querySelectorAll('input[name="ticket_ids"]');
    var ticked = list.querySelectorAll('input[name="ticket_ids"]:checked').length;
    var all = list.querySelector('.select-all');
    var count = list.querySelector('.bulk-count');
    if (all) { all.checked = ticked > 0 && ticked === boxes.length; all.indeterminate = ticked > 0 && ticked < boxes.length; }
    if (count) { count.textContent = ticked ? ticked + ' selected' : ''; }
  }
  document.addEventListener('change', function (event) {
    var list = event.target.closest('#ticket-list');
    if (!list) { return; }
    if (event.target.classList.contains('select-all')) {
      list.querySelectorAll('input[name="ticket_ids"]').forEach(function (box) { box.checked = event.target.checked; });
    }
    update(list);
  });
  // Without this script the select-all box would do nothing, so it stays hidden until now.
  function ready() {
    var list = document.getElementById('ticket-list');
    if (!list) { return; }
    list.querySelectorAll('.select-all-label').forEach(function (label) { label.hidden = false; });
    update(list);
  }
  document.addEventListener('DOMContentLoaded', ready);
  document.addEventListener('htmx:afterSwap', ready);
})();
