// supabase-js subscribing to postgres_changes of a table that does not exist (and, as control, of one in
// the publication): prints the subscribe status and the `system` messages each channel received.
import { createClient } from '@supabase/supabase-js'

const url = process.env.SUPABASE_URL
const anonKey = process.env.SUPABASE_ANON_KEY
const options = { auth: { persistSession: false, autoRefreshToken: false } }
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))

const anna = createClient(url, anonKey, options)
const { error } = await anna.auth.signInWithPassword({ email: 'anna@acme.test', password: 'salesflow-dev' })
if (error) throw new Error(`sign-in: ${error.message}`)

const watch = async (name, table) => {
  const system = []
  const channel = anna.channel(name)
    .on('postgres_changes', { event: '*', schema: 'public', table }, () => {})
    .on('system', {}, (message) => system.push(message))
  const status = await new Promise((resolve) => channel.subscribe((state) => { if (state !== 'CLOSED') resolve(state) }))
  for (let i = 0; i < 200 && system.length === 0; i++) await sleep(25)
  return { status, system }
}
const missing = await watch('missing-table', 'no_such_table')
const leads = await watch('leads-table', 'leads')
console.log(JSON.stringify({ missing, leads }))
await anna.removeAllChannels()
process.exit(0)
