// supabase-js Auth as two browser tabs of one user use it, getUser with a tampered token, and
// functions.invoke. Prints one JSON object with what the clients got.
import { createClient } from '@supabase/supabase-js'

const url = process.env.SUPABASE_URL
const anonKey = process.env.SUPABASE_ANON_KEY
const options = { auth: { persistSession: false, autoRefreshToken: false } }

const tab1 = createClient(url, anonKey, options)
const tab2 = createClient(url, anonKey, options)
const { data: signedIn, error } = await tab1.auth.signInWithPassword({ email: 'ben@acme.test', password: 'salesflow-dev' })
if (error) throw new Error(`sign-in: ${error.message}`)
const first = signedIn.session

// Tab 1 rotates the refresh token; tab 2 still holds the old one and refreshes with it a moment later.
const { data: rotated, error: rotateError } = await tab1.auth.refreshSession()
if (rotateError) throw new Error(`refresh: ${rotateError.message}`)
const { data: secondTab, error: secondTabError } = await tab2.auth.refreshSession({ refresh_token: first.refresh_token })
const sessionId = (token) => JSON.parse(Buffer.from(token.split('.')[1], 'base64url').toString()).session_id

// A token whose payload was tampered with (signature no longer matches).
const [header, payload, signature] = rotated.session.access_token.split('.')
const claims = JSON.parse(Buffer.from(payload, 'base64url').toString())
const tampered = [header, Buffer.from(JSON.stringify({ ...claims, role: 'service_role' })).toString('base64url'), signature].join('.')
const { data: tamperedUser, error: tamperedError } = await tab1.auth.getUser(tampered)

const { data: lead, error: invokeError } = await tab1.functions.invoke('create-lead', {
  body: { name: 'From supabase-js', source_channel: 'web' },
})

console.log(JSON.stringify({
  rotated: rotated.session.refresh_token !== first.refresh_token,
  secondTab: secondTabError ? { error: secondTabError.message, code: secondTabError.code } : {
    sameRefreshToken: secondTab.session.refresh_token === rotated.session.refresh_token,
    sameSession: sessionId(secondTab.session.access_token) === sessionId(rotated.session.access_token),
    email: secondTab.user.email,
  },
  tampered: { user: tamperedUser.user, status: tamperedError?.status, code: tamperedError?.code, message: tamperedError?.message },
  invoke: { type: typeof lead, tenant_id: lead?.tenant_id, name: lead?.name, error: invokeError?.message ?? null },
}))
process.exit(0)
