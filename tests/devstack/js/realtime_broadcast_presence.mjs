// supabase-js Broadcast and Presence against the local stack, as two browser tabs of two users would use
// them. Prints one JSON object with what each client saw.
import { createClient } from '@supabase/supabase-js'

const url = process.env.SUPABASE_URL
const anonKey = process.env.SUPABASE_ANON_KEY
const options = { auth: { persistSession: false, autoRefreshToken: false } }
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))
const until = async (check, what) => {
  for (let i = 0; i < 200; i++) { if (check()) return; await sleep(25) }
  throw new Error(`timed out waiting for ${what}`)
}
const subscribed = (channel) => new Promise((resolve, reject) => channel.subscribe((status, err) => {
  if (status === 'SUBSCRIBED') resolve(status)
  else if (status !== 'CLOSED') reject(new Error(`${status}: ${err?.message}`))
}))

const anna = createClient(url, anonKey, options)
const bea = createClient(url, anonKey, options)
for (const [client, email] of [[anna, 'anna@acme.test'], [bea, 'bea@nordlicht.test']]) {
  const { error } = await client.auth.signInWithPassword({ email, password: 'salesflow-dev' })
  if (error) throw new Error(`sign-in ${email}: ${error.message}`)
}

// Broadcast: Anna does not hear herself (self: false) and waits for the server's ack; Bea hears herself.
const room = `room-${Date.now()}`
const annaHeard = []
const beaHeard = []
const annaRoom = anna.channel(room, { config: { broadcast: { self: false, ack: true } } })
  .on('broadcast', { event: 'hello' }, (message) => annaHeard.push(message.payload))
const beaRoom = bea.channel(room, { config: { broadcast: { self: true } } })
  .on('broadcast', { event: 'hello' }, (message) => beaHeard.push(message.payload))
  .on('broadcast', { event: 'other' }, (message) => beaHeard.push({ other: message.payload }))
await subscribed(annaRoom)
await subscribed(beaRoom)
const annaAck = await annaRoom.send({ type: 'broadcast', event: 'hello', payload: { from: 'anna', n: 1 } })
const beaSent = await beaRoom.send({ type: 'broadcast', event: 'hello', payload: { from: 'bea', n: 2 } })
await until(() => beaHeard.length >= 2 && annaHeard.length >= 1, 'the broadcasts')
// Anna's own message was sent first: had it come back to her, it would be here before Bea's.

// Presence: track, sync, join, untrack (leave), track again, then Bea's socket goes away (leave).
const lobby = `lobby-${Date.now()}`
const annaEvents = []
const annaLobby = anna.channel(lobby, { config: { presence: { key: 'anna' } } })
  .on('presence', { event: 'sync' }, () => annaEvents.push({ sync: Object.keys(annaLobby.presenceState()).sort() }))
  .on('presence', { event: 'join' }, ({ key, newPresences }) =>
    annaEvents.push({ join: key, status: newPresences.map((p) => p.status) }))
  .on('presence', { event: 'leave' }, ({ key, leftPresences }) =>
    annaEvents.push({ leave: key, status: leftPresences.map((p) => p.status) }))
await subscribed(annaLobby)
const annaTracked = await annaLobby.track({ status: 'online' })
await until(() => annaLobby.presenceState().anna, 'anna in her own presence state')

const beaLobby = bea.channel(lobby, { config: { presence: { key: 'bea' } } })
  .on('presence', { event: 'sync' }, () => {})
await subscribed(beaLobby)
const beaTracked = await beaLobby.track({ status: 'away' })
const both = (channel) => channel.presenceState().anna && channel.presenceState().bea
await until(() => both(annaLobby) && both(beaLobby), 'both present for both')
const bothSee = {
  anna: Object.fromEntries(Object.entries(annaLobby.presenceState()).map(([k, v]) => [k, v.map((p) => p.status)])),
  bea: Object.fromEntries(Object.entries(beaLobby.presenceState()).map(([k, v]) => [k, v.map((p) => p.status)])),
}
const beaUntracked = await beaLobby.untrack()
await until(() => !annaLobby.presenceState().bea, 'bea gone after untrack')
await beaLobby.track({ status: 'back' })
await until(() => annaLobby.presenceState().bea?.[0]?.status === 'back', 'bea back')
bea.realtime.disconnect()
await until(() => !annaLobby.presenceState().bea, 'bea gone after her socket closed')

console.log(JSON.stringify({
  broadcast: { annaAck, beaSent, annaHeard, beaHeard },
  presence: { annaTracked, beaTracked, beaUntracked, bothSee, annaEvents, finalState: Object.keys(annaLobby.presenceState()) },
}))
await anna.removeAllChannels()
process.exit(0)
