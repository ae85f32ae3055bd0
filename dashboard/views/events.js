export default { id: 'events', label: { de: 'Ereignisse', en: 'Events' }, mount(el, ctx) { el.textContent = ctx.t({ de: 'Ereignisse', en: 'Events' }); return () => {}; } };
