// supabase-js against the local stack's PostgREST contract: operators, modifiers, logic trees, CSV, counts,
// upserts, explain. Prints one JSON object with what each call answered; the pytest side asserts on it.
import { createClient } from '@supabase/supabase-js'

const client = createClient(process.env.SUPABASE_URL, process.env.SUPABASE_ANON_KEY,
  { auth: { persistSession: false, autoRefreshToken: false } })
const { error: signInError } = await client.auth.signInWithPassword({ email: 'anna@acme.test', password: 'salesflow-dev' })
if (signInError) throw new Error(`sign-in: ${signInError.message}`)

const spans = () => client.from('pgrst_spans').select('id').order('id')
const ids = async (query) => {
  const { data, error } = await query
  if (error) return { error: error.code }
  return data.map((r) => r.id)
}
const answer = async (query) => {
  const { data, error, count, status } = await query
  return { data, error: error ? error.code : null, count, status }
}

const seen = {
  likeAllOf: await ids(spans().likeAllOf('name', ['A*', '*n'])),
  likeAnyOf: await ids(spans().likeAnyOf('name', ['O*', 'P*'])),
  ilikeAllOf: await ids(spans().ilikeAllOf('name', ['o*', '*N'])),
  ilikeAnyOf: await ids(spans().ilikeAnyOf('name', ['*hansen', 'anna'])),
  anyEq: await ids(spans().filter('name', 'eq(any)', '{Anna,Oskar Dean}')),
  regexMatch: await ids(spans().regexMatch('name', '^O')),
  regexIMatch: await ids(spans().regexIMatch('name', 'dean$')),
  isDistinct: await ids(spans().isDistinct('score', 10)),
  rangeLt: await ids(spans().rangeLt('during', '[10,15)')),
  rangeGt: await ids(spans().rangeGt('during', '(5,12)')),
  rangeLte: await ids(spans().rangeLte('during', '[1,10)')),
  rangeGte: await ids(spans().rangeGte('during', '[10,30)')),
  rangeAdjacent: await ids(spans().rangeAdjacent('during', '[5,10)')),
  overlaps: await ids(spans().overlaps('tags', ['red', 'green'])),
  contains: await ids(spans().contains('meta', { a: 2 })),
  containedBy: await ids(spans().containedBy('tags', ['red', 'blue'])),
  ftsGerman: await ids(spans().textSearch('doc', 'Katze', { config: 'german' })),
  ftsPhrase: await ids(spans().textSearch('body', 'cats ate', { type: 'phrase', config: 'english' })),
  ftsWebsearch: await ids(spans().textSearch('body', '"fat cat" -rats', { type: 'websearch', config: 'english' })),
  notLike: await ids(spans().not('name', 'like', 'O*')),
  orQuoted: await ids(spans().or('name.eq."Paul, \\"P\\" (II)",tags.cs.{green}')),
  orNested: await ids(spans().or('id.eq.4,not.and(score.gte.20,score.lte.30)')),
  inList: await ids(spans().in('name', ['Anna', 'Oskar Dean'])),
  inQuotedInOr: await ids(spans().or('name.in.(Anna,"Paul, \\"P\\" (II)"),id.eq.3')),
  csv: (await client.from('pgrst_spans').select('id,nick').lt('id', 3).order('id').csv()).data,
  stripNulls: (await client.from('pgrst_spans').select('id,meta,score').in('id', [3, 4]).order('id').stripNulls()).data,
  explain: await answer(client.from('pgrst_spans').select('id').explain()),
  countExact: await answer(client.from('pgrst_spans').select('id', { count: 'exact' }).limit(2)),
  countPlanned: await answer(client.from('pgrst_spans').select('id', { count: 'planned' }).limit(2)),
  countEstimated: await answer(client.from('pgrst_spans').select('id', { count: 'estimated', head: true })),
  rpcCount: await answer(client.rpc('pgrst_spans_all', {}, { count: 'exact' }).select('id').order('id').limit(2)),
  rpcHead: await answer(client.rpc('pgrst_spans_all', {}, { head: true, count: 'exact' })),
  rpcGet: await answer(client.rpc('pgrst_add', { a: 2, b: 3 }, { get: true })),
  upsertMerge: await answer(client.from('pgrst_members')
    .upsert([{ email: 'a@example.de', name: 'Alma Neu' }, { email: 'js@example.de', name: 'Jo' }],
      { onConflict: 'email' }).select('email,name,visits').order('email')),
  upsertIgnore: await answer(client.from('pgrst_members')
    .upsert([{ email: 'b@example.de', name: 'Not Bodo' }], { onConflict: 'email', ignoreDuplicates: true })
    .select('email,name')),
  insertDefaults: await answer(client.from('pgrst_members')
    .insert([{ email: 'k@example.de', name: 'Kai', visits: 7 }, { email: 'l@example.de', name: 'Lu' }],
      { defaultToNull: false }).select('email,visits').order('email')),
  insertNulls: await answer(client.from('pgrst_members')
    .insert([{ email: 'm@example.de', name: 'Mo', visits: 7 }, { email: 'n@example.de', name: 'Nu' }])),
  embedNotNull: (await client.from('tenants').select('name, leads(name)').eq('leads.status', 'lost')
    .not('leads', 'is', null)).data,
  embedNull: (await client.from('tenants').select('name, leads(name)').eq('leads.status', 'won')
    .is('leads', null)).data,
  embedCount: (await client.from('tenants').select('name, leads(count)')).data,
  spread: (await client.from('leads').select('name, ...tenants(tenant_name:name)')
    .eq('id', '10000000-0000-4000-8000-000000000001')).data,
  maxAffected: await answer(client.from('pgrst_members').update({ visits: 0 }).in('id', [1, 2]).maxAffected(1)),
}
seen.visitsAfterMaxAffected = (await client.from('pgrst_members').select('visits').in('id', [1, 2]).order('id')).data
console.log(JSON.stringify(seen))
process.exit(0)
