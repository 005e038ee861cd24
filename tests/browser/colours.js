// [text colour, effective background colour, sample text] of every visible text element.
() => {
  const bg = (e) => { for (; e; e = e.parentElement) { const c = getComputedStyle(e).backgroundColor;
    if (c && c !== 'rgba(0, 0, 0, 0)' && c !== 'transparent') return c; } return 'rgb(255, 255, 255)'; };
  return [...document.querySelectorAll('h1, h2, p, label, td, th, dt, dd, a, button, .badge, legend, summary, span.pct')]
    .filter((e) => e.offsetParent !== null && e.textContent.trim() && !e.closest('.visually-hidden') && !e.disabled)
    .map((e) => [getComputedStyle(e).color, bg(e), e.textContent.trim().slice(0, 40)]);
}
