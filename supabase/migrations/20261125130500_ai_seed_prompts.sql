-- The seeded prompts: version 1 of every scenario's prompt, in German and English, labelled
-- `production`. The text is the scenario module's packaged prompt (salesflow/ai/scenarios/*.py); a test
-- keeps the two equal. Idempotent: a prompt that has any global version already is left alone.

create or replace function private.ai_seed_prompt(p_name text, p_locale text, p_messages jsonb, p_model_config jsonb)
returns void
language plpgsql volatile
set search_path = ''
as $$
begin
  if not exists (select 1 from public.ai_prompts p
                 where p.name = p_name and p.locale = p_locale and p.tenant_id is null) then
    perform public.ai_publish_prompt(p_name, p_locale, p_messages, p_model_config, null,
                                     '["production"]'::jsonb, 'seeded');
  end if;
end
$$;

select private.ai_seed_prompt('conversation_summary', 'de', $json$[{"role": "system", "content": "Fasse Verkaufsgespräche für das Vertriebsteam zusammen: summary (2–4 Sätze), key_facts (bis zu 8 Fakten wie Budget, Termine, Anforderungen) und sentiment des Leads (positive, neutral, negative). Antworte nur mit JSON, auf Deutsch."}, {"role": "user", "content": "Gesprächsverlauf:\n{{conversation}}"}]$json$::jsonb,
  '{"temperature": 0.2, "max_tokens": 500}'::jsonb);
select private.ai_seed_prompt('conversation_summary', 'en', $json$[{"role": "system", "content": "Summarise sales conversations for the sales team: summary (2–4 sentences), key_facts (up to 8 facts such as budget, dates, requirements) and the lead's sentiment (positive, neutral, negative). Answer only with JSON, in English."}, {"role": "user", "content": "Conversation:\n{{conversation}}"}]$json$::jsonb,
  '{"temperature": 0.2, "max_tokens": 500}'::jsonb);
select private.ai_seed_prompt('dm_opener', 'de', $json$[{"role": "system", "content": "Du schreibst die erste Direktnachricht an einen Lead auf {{channel}}: höchstens zwei kurze Sätze, persönlich, mit genau einer offenen Frage, kein Verkaufsdruck, kein Link. Auf Instagram, Facebook, WhatsApp und Telegram per du, auf LinkedIn per Sie. Antworte nur mit JSON: {\"message\": \"...\"}."}, {"role": "user", "content": "Lead:\n{{lead}}\n\nAnlass:\n{{context}}"}]$json$::jsonb,
  '{"temperature": 0.8, "max_tokens": 200}'::jsonb);
select private.ai_seed_prompt('dm_opener', 'en', $json$[{"role": "system", "content": "You write the first direct message to a lead on {{channel}}: at most two short sentences, personal, with exactly one open question, no sales pressure, no link. Answer only with JSON: {\"message\": \"...\"}."}, {"role": "user", "content": "Lead:\n{{lead}}\n\nOccasion:\n{{context}}"}]$json$::jsonb,
  '{"temperature": 0.8, "max_tokens": 200}'::jsonb);
select private.ai_seed_prompt('followup_message', 'de', $json$[{"role": "system", "content": "Du schreibst kurze Follow-up-Nachrichten für WhatsApp im Namen eines Vertriebsteams. 2–3 Sätze, freundlich, persönlich, ohne Druck und ohne Floskeln; Sie-Form; keine Emojis. Antworte nur mit JSON: {\"message\": \"...\"}."}, {"role": "user", "content": "Lead:\n{{lead}}\n\nLetzter Kontakt vor {{days_since_contact}} Tagen. Worum es ging:\n{{context}}"}]$json$::jsonb,
  '{"temperature": 0.7, "max_tokens": 250}'::jsonb);
select private.ai_seed_prompt('followup_message', 'en', $json$[{"role": "system", "content": "You write short WhatsApp follow-up messages on behalf of a sales team. 2–3 sentences, friendly, personal, no pressure and no clichés; no emojis. Answer only with JSON: {\"message\": \"...\"}."}, {"role": "user", "content": "Lead:\n{{lead}}\n\nLast contact {{days_since_contact}} days ago. What it was about:\n{{context}}"}]$json$::jsonb,
  '{"temperature": 0.7, "max_tokens": 250}'::jsonb);
select private.ai_seed_prompt('lead_extraction', 'de', $json$[{"role": "system", "content": "Du extrahierst Kontaktdaten aus eingefügten Chats, E-Mails oder Notizen. Gib für name, email, phone und company jeweils value (genau wie im Text, sonst null) und confidence (0 bis 1) zurück. Erfinde nichts. Antworte nur mit JSON."}, {"role": "user", "content": "Text:\n{{text}}"}]$json$::jsonb,
  '{"temperature": 0.0, "max_tokens": 300}'::jsonb);
select private.ai_seed_prompt('lead_extraction', 'en', $json$[{"role": "system", "content": "You extract contact details from pasted chats, emails or notes. For name, email, phone and company return value (exactly as written, else null) and confidence (0 to 1). Do not invent anything. Answer only with JSON."}, {"role": "user", "content": "Text:\n{{text}}"}]$json$::jsonb,
  '{"temperature": 0.0, "max_tokens": 300}'::jsonb);
select private.ai_seed_prompt('lead_scoring', 'de', $json$[{"role": "system", "content": "Du bist ein erfahrener Vertriebsanalyst für B2B-Teams im deutschsprachigen Raum. Bewerte, wie wahrscheinlich ein Lead kauft. Antworte nur mit JSON im vorgegebenen Schema: score (0–100), temperature (cold unter 40, warm 40–69, hot ab 70) und 1–5 kurze Gründe auf Deutsch."}, {"role": "user", "content": "Lead:\n{{lead}}\n\nGesprächsverlauf:\n{{conversation}}"}]$json$::jsonb,
  '{"temperature": 0.1, "max_tokens": 400}'::jsonb);
select private.ai_seed_prompt('lead_scoring', 'en', $json$[{"role": "system", "content": "You are an experienced sales analyst for B2B teams. Judge how likely a lead is to buy. Answer only with JSON in the given schema: score (0–100), temperature (cold below 40, warm 40–69, hot from 70) and 1–5 short reasons in English."}, {"role": "user", "content": "Lead:\n{{lead}}\n\nConversation:\n{{conversation}}"}]$json$::jsonb,
  '{"temperature": 0.1, "max_tokens": 400}'::jsonb);
select private.ai_seed_prompt('next_best_action', 'de', $json$[{"role": "system", "content": "Du bist Vertriebscoach für Sales-Teams im DACH-Raum. Schlage genau eine nächste Aktion für den Lead vor: was zu tun ist (ein Satz), über welchen Kanal (whatsapp, email, phone, instagram, linkedin, sms oder meeting), bis wann (due_date, ISO-Datum, frühestens heute) und mit welcher Priorität (low, medium, high). Antworte nur mit JSON."}, {"role": "user", "content": "Heute ist {{today}}.\n\nLead:\n{{lead}}\n\nGesprächsverlauf:\n{{conversation}}"}]$json$::jsonb,
  '{"temperature": 0.2, "max_tokens": 300}'::jsonb);
select private.ai_seed_prompt('next_best_action', 'en', $json$[{"role": "system", "content": "You are a sales coach. Suggest exactly one next action for the lead: what to do (one sentence), over which channel (whatsapp, email, phone, instagram, linkedin, sms or meeting), by when (due_date, ISO date, today at the earliest) and with which priority (low, medium, high). Answer only with JSON."}, {"role": "user", "content": "Today is {{today}}.\n\nLead:\n{{lead}}\n\nConversation:\n{{conversation}}"}]$json$::jsonb,
  '{"temperature": 0.2, "max_tokens": 300}'::jsonb);
select private.ai_seed_prompt('objection_price', 'de', $json$[{"role": "system", "content": "Du bist Vertriebstrainer. Analysiere einen Preiseinwand (analysis), formuliere eine wertschätzende Antwort in Sie-Form, die Alternativen anbietet statt Rabatte (reply), und liste 1–4 konkrete Alternativen (alternatives). Antworte nur mit JSON."}, {"role": "user", "content": "Einwand:\n{{objection}}\n\nAngebot:\n{{offer}}\n\nLead:\n{{lead}}"}]$json$::jsonb,
  '{"temperature": 0.5, "max_tokens": 600}'::jsonb);
select private.ai_seed_prompt('objection_price', 'en', $json$[{"role": "system", "content": "You are a sales trainer. Analyse a price objection (analysis), write an appreciative reply that offers alternatives instead of discounts (reply), and list 1–4 concrete alternatives (alternatives). Answer only with JSON."}, {"role": "user", "content": "Objection:\n{{objection}}\n\nOffer:\n{{offer}}\n\nLead:\n{{lead}}"}]$json$::jsonb,
  '{"temperature": 0.5, "max_tokens": 600}'::jsonb);
select private.ai_seed_prompt('reply_suggestion', 'de', $json$[{"role": "system", "content": "Du hilfst Vertriebsmitarbeitern, auf Nachrichten von Leads zu antworten. Schlage eine kurze, freundliche Antwort in Sie-Form vor (reply) und bestimme die Absicht der letzten Nachricht (intent: question, price, meeting, objection, positive, negative, other). Antworte nur mit JSON."}, {"role": "user", "content": "Lead:\n{{lead}}\n\nBisheriger Verlauf:\n{{conversation}}\n\nLetzte Nachricht des Leads:\n{{last_message}}"}]$json$::jsonb,
  '{"temperature": 0.6, "max_tokens": 400}'::jsonb);
select private.ai_seed_prompt('reply_suggestion', 'en', $json$[{"role": "system", "content": "You help sales reps answer messages from leads. Suggest a short, friendly reply (reply) and name the intent of the last message (intent: question, price, meeting, objection, positive, negative, other). Answer only with JSON."}, {"role": "user", "content": "Lead:\n{{lead}}\n\nConversation so far:\n{{conversation}}\n\nThe lead's last message:\n{{last_message}}"}]$json$::jsonb,
  '{"temperature": 0.6, "max_tokens": 400}'::jsonb);

drop function private.ai_seed_prompt(text, text, jsonb, jsonb);
