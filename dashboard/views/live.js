export default { id: 'live', label: { de: 'Live', en: 'Live' }, mount(el, ctx) { el.textContent = ctx.t({ de: 'Live', en: 'Live' }); return () => {}; } };
