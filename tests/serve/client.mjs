// client.mjs — the official OpenAI SDK (and fetch) against a running `doppler serve`, for
// tests/test_serve.sh. Usage: node client.mjs BASE_URL API_KEY MODEL_NAME DOPPLER MODEL_DIR SLOTS QUEUE
// Prints "ok ..." / "FAIL ..." lines; exits 1 when anything failed.
import { execFileSync } from 'node:child_process';
import OpenAI from 'openai';

const [base, key, model, tool, modelDir, slotsArg, queueArg] = process.argv.slice(2);
const slots = Number(slotsArg), queue = Number(queueArg);
let failed = 0;
const ok = (m) => console.log(`ok   ${m}`);
const bad = (m) => { console.log(`FAIL ${m}`); failed = 1; };
const check = (cond, m, detail = '') => (cond ? ok(m) : bad(detail ? `${m}: ${detail}` : m));

const client = new OpenAI({ baseURL: `${base}/v1`, apiKey: key, maxRetries: 0, timeout: 60000 });

// `doppler run --greedy` alone: the text it generates after the prompt
function runGreedy(prompt, n) {
  const out = execFileSync(tool, ['run', modelDir, '--prompt', prompt, '-n', String(n), '--greedy'],
                           { encoding: 'utf8', timeout: 60000 });
  if (!out.startsWith(prompt) || !out.endsWith('\n')) throw new Error(`run output: ${JSON.stringify(out)}`);
  return out.slice(prompt.length, -1);
}

async function collect(stream, pick) {
  let text = '', finish = null, usage = null, n = 0;
  for await (const chunk of stream) {
    n++;
    if (chunk.usage) usage = chunk.usage;
    for (const c of chunk.choices) {
      text += pick(c) ?? '';
      if (c.finish_reason) finish = c.finish_reason;
    }
  }
  return { text, finish, usage, n };
}

async function metrics() {
  const r = await fetch(`${base}/metrics`, { headers: { authorization: `Bearer ${key}` } });
  const t = await r.text();
  const get = (name) => {
    const line = t.split('\n').find((l) => l.startsWith(name + ' '));
    return line ? Number(line.slice(name.length + 1)) : NaN;
  };
  return { get, text: t };
}

async function main() {
  // ---- models
  const models = await client.models.list();
  check(models.data.length === 1 && models.data[0].id === model, 'models.list names the model', JSON.stringify(models.data));

  // ---- chat, non-streaming and streaming: the same greedy text
  const msgs = [{ role: 'system', content: 'You are terse.' }, { role: 'user', content: 'Hello there' }];
  const chat = await client.chat.completions.create({ model, messages: msgs, max_tokens: 12, temperature: 0 });
  const c0 = chat.choices[0];
  check(chat.object === 'chat.completion' && c0.message.role === 'assistant' && typeof c0.message.content === 'string',
        'chat.completions.create answers an assistant message', JSON.stringify(chat));
  check(['stop', 'length'].includes(c0.finish_reason) && chat.usage.prompt_tokens > 0 &&
        chat.usage.total_tokens === chat.usage.prompt_tokens + chat.usage.completion_tokens &&
        (c0.finish_reason === 'stop' || chat.usage.completion_tokens === 12), 'chat usage and finish_reason', JSON.stringify(chat.usage));
  const cs = await collect(await client.chat.completions.create({ model, messages: msgs, max_tokens: 12, temperature: 0, stream: true,
                                                                  stream_options: { include_usage: true } }),
                           (c) => c.delta?.content);
  check(cs.text === c0.message.content && cs.finish === c0.finish_reason, 'chat stream gives the same text as the answer',
        `${JSON.stringify(cs.text)} vs ${JSON.stringify(c0.message.content)}`);
  check(cs.usage && cs.usage.completion_tokens === chat.usage.completion_tokens, 'chat stream ends with usage (include_usage)');

  // ---- completions: greedy text equals `doppler run --greedy` alone, streaming or not
  const pa = 'The quick brown fox', pb = 'Once upon a time';
  const refA = runGreedy(pa, 24), refB = runGreedy(pb, 24);
  const [ra, rb] = await Promise.all([
    client.completions.create({ model, prompt: pa, max_tokens: 24, temperature: 0 }),
    client.completions.create({ model, prompt: pb, max_tokens: 24, temperature: 0 }),
  ]);
  check(ra.choices[0].text === refA && rb.choices[0].text === refB, 'two slots at once: greedy text of each = doppler run --greedy alone',
        `${JSON.stringify(ra.choices[0].text)} / ${JSON.stringify(refA)}; ${JSON.stringify(rb.choices[0].text)} / ${JSON.stringify(refB)}`);
  const st = await collect(await client.completions.create({ model, prompt: pa, max_tokens: 24, temperature: 0, stream: true }),
                           (c) => c.text);
  check(st.text === refA && st.n >= 2, 'completions stream = doppler run --greedy', JSON.stringify(st.text));

  // ---- seeds: the same seed samples the same text
  const s1 = await client.completions.create({ model, prompt: pb, max_tokens: 16, temperature: 1, top_k: 40, seed: 7 });
  const s2 = await client.completions.create({ model, prompt: pb, max_tokens: 16, temperature: 1, top_k: 40, seed: 7 });
  check(s1.choices[0].text === s2.choices[0].text, 'a seed makes sampling repeatable');

  // ---- stop sequences cut the text before them
  const full = refA;
  const cut = full.length > 6 ? full.slice(3, 6) : null;
  if (cut) {
    const r = await client.completions.create({ model, prompt: pa, max_tokens: 24, temperature: 0, stop: [cut] });
    check(r.choices[0].finish_reason === 'stop' && r.choices[0].text === full.slice(0, full.indexOf(cut)), 'stop sequence',
          JSON.stringify(r.choices[0]));
  }

  // ---- errors through the SDK
  try {
    await new OpenAI({ baseURL: `${base}/v1`, apiKey: 'wrong', maxRetries: 0 }).models.list();
    bad('a wrong key is refused');
  } catch (e) {
    check(e instanceof OpenAI.AuthenticationError && e.status === 401, 'a wrong key is an AuthenticationError (401)', String(e));
  }
  try {
    await client.chat.completions.create({ model, messages: [{ role: 'wizard', content: 'hi' }] });
    bad('an unknown role is refused');
  } catch (e) {
    check(e instanceof OpenAI.BadRequestError && e.error?.param === 'messages[0].role', 'an unknown role is a BadRequestError naming the field',
          String(e));
  }
  try {
    await client.completions.create({ model, prompt: 'x '.repeat(400), max_tokens: 8 });
    bad('context overflow is refused');
  } catch (e) {
    check(e instanceof OpenAI.BadRequestError && e.code === 'context_length_exceeded', 'context overflow is a 400 context_length_exceeded',
          String(e));
  }

  // ---- a client that goes away frees its slot
  {
    const before = (await metrics()).get('doppler_generations_total{outcome="cancelled"}');
    const ac = new AbortController();
    const r = await fetch(`${base}/v1/completions`, {
      method: 'POST', signal: ac.signal,
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model, prompt: 'Tell me everything', max_tokens: 200, stream: true, temperature: 0 }),
    });
    const reader = r.body.getReader();
    await reader.read();
    ac.abort();
    let freed = false;
    for (let i = 0; i < 100 && !freed; i++) {
      await new Promise((res) => setTimeout(res, 100));
      const m = await metrics();
      freed = m.get('doppler_generations_total{outcome="cancelled"}') > before && m.get('doppler_slots_busy') === 0;
    }
    check(freed, 'a client that disconnects mid-stream frees its slot (cancelled, no slot busy)');
  }

  // ---- a bounded flood: 503 + Retry-After past slots + queue, no accepted request lost
  {
    const N = 24, ref = runGreedy('Flood', 32);
    const one = async (i) => {
      try {
        if (i % 2) {
          const s = await collect(await client.completions.create({ model, prompt: 'Flood', max_tokens: 32, temperature: 0, stream: true }),
                                  (c) => c.text);
          return { status: 200, text: s.text, finish: s.finish };
        }
        const r = await client.completions.create({ model, prompt: 'Flood', max_tokens: 32, temperature: 0 });
        return { status: 200, text: r.choices[0].text, finish: r.choices[0].finish_reason };
      } catch (e) {
        return { status: e.status ?? -1, retry: e.headers?.get?.('retry-after') ?? e.headers?.['retry-after'], err: String(e) };
      }
    };
    const res = await Promise.all(Array.from({ length: N }, (_, i) => one(i)));
    const okr = res.filter((r) => r.status === 200), busy = res.filter((r) => r.status === 503);
    const other = res.filter((r) => r.status !== 200 && r.status !== 503);
    check(other.length === 0, `flood of ${N}: only 200 and 503`, JSON.stringify(other.slice(0, 3)));
    check(busy.length >= 1 && busy.every((r) => r.retry === '1'), `flood: ${busy.length} refused with 503 + Retry-After`,
          JSON.stringify(busy.slice(0, 2)));
    check(okr.length >= slots && okr.length <= N, `flood: ${okr.length} accepted (slots ${slots}, queue ${queue})`);
    check(okr.every((r) => r.text === ref), 'flood: every accepted request got its whole greedy answer',
          JSON.stringify(okr.filter((r) => r.text !== ref).slice(0, 2)));
    const m = await metrics();
    check(m.get('doppler_requests_rejected_total') === busy.length, 'metrics count the 503s');
    const after = await client.completions.create({ model, prompt: 'Flood', max_tokens: 32, temperature: 0 });
    check(after.choices[0].text === ref, 'the server still answers after the flood');
  }
}

main().then(() => process.exit(failed), (e) => { console.log(`FAIL client: ${e?.stack ?? e}`); process.exit(1); });
