// Settings › Helpdesk: ask before a form marked data-confirm deletes something (without
// JavaScript the form simply posts; the page after says what was deleted).
document.addEventListener('submit', function (event) {
  var form = event.target;
  if (form instanceof HTMLFormElement && form.dataset.confirm && !window.confirm(form.dataset.confirm)) {
    event.preventDefault();
  }
});
