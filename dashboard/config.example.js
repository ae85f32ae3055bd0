// For a real Supabase project copy this file to dashboard/config.js next to index.html and fill in the
// project's API URL and its anon (publishable) key. Never the service role key: the dashboard runs as the
// signed-in user and every read is scoped by RLS. `salesflow dev` serves its own config.js for the local stack.
window.SALESFLOW_CONFIG = {
  supabaseUrl: 'https://YOUR-PROJECT.supabase.co',
  anonKey: 'YOUR-ANON-KEY',
};
