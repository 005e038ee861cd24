// Every visible control with no accessible name (label, aria-label, aria-labelledby, text or title).
() => [...document.querySelectorAll('input, select, textarea, button, a[href], progress, [role=progressbar]')]
  .filter((e) => e.offsetParent !== null || e.closest('dialog[open]'))
  .filter((e) => !(e.labels && e.labels.length) && !e.getAttribute('aria-label') && !e.getAttribute('aria-labelledby')
    && !(e.textContent || '').trim() && !e.title)
  .map((e) => e.outerHTML.slice(0, 120))
