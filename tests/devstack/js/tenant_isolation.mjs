// supabase-js against the local stack: a tenant-A user reads only tenant A's leads and receives a
// realtime INSERT for tenant A but not for tenant B. Prints one JSON object with what it saw.
import { createClient } from '@supabase/supabase-js'

const url = process.env.SUPABASE_URL
const anonKey = process.env.SUPABASE_ANON_KEY
const options = { auth: { persistSession: false, autoRefreshToken: false } }
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))

const anna = createClient(url, anonKey, options)
const bea = createClient(url, anonKey, options)
const signIn = async (client, email) => {
  const { error } = await client.auth.signInWithPassword({ email, password: 'salesflow-dev' })
  if (error) throw new Error(`sign-in ${email}: ${error.message}`)
}
await signIn(anna, 'anna@acme.test')
await signIn(bea, 'bea@nordlicht.test')

const { data: leads, error: readError, count } = await anna
  .from('leads').select('tenant_id, name', { count: 'exact' }).order('name')
if (readError) throw new Error(`select: ${readError.message}`)

const received = []
const status = await new Promise((resolve) => {
  anna.channel('anna-leads')
    .on('postgres_changes', { event: 'INSERT', schema: 'public', table: 'leads' }, (payload) => {
      received.push({ name: payload.new.name, tenant_id: payload.new.tenant_id, eventType: payload.eventType })
    })
    .subscribe((state) => { if (state !== 'CLOSED') resolve(state) })
})

const insert = async (client, name) => {
  const { error } = await client.from('leads').insert({ name })
  if (error) throw new Error(`insert ${name}: ${error.message}`)
}
await insert(bea, 'Only for Nordlicht')
await insert(anna, 'Only for Acme')
// Changes arrive in commit order: once Acme's row (committed second) is here, Nordlicht's would have come first.
for (let i = 0; i < 200 && !received.some((r) => r.name === 'Only for Acme'); i++) await sleep(50)

const denied = await anna.from('leads').insert({ name: 'Smuggled', tenant_id: '22222222-2222-4222-8222-222222222222' })
console.log(JSON.stringify({
  status,
  count,
  tenants: [...new Set(leads.map((l) => l.tenant_id))],
  received,
  denied: denied.error ? { code: denied.error.code, status: denied.status } : null,
}))
await anna.removeAllChannels()
process.exit(0)
