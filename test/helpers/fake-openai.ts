// A local HTTP server that speaks the OpenAI Chat Completions wire format, for tests: each request is answered by
// the test's handler (a status, headers, a body, a delay), and every request is recorded.
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface ChatRequest {
  headers: IncomingHttpHeaders;
  body: { model: string; messages: { role: string; content: string }[]; response_format?: { json_schema?: { schema?: unknown } }; logprobs?: boolean; top_logprobs?: number };
}

export interface Reply {
  status?: number;
  headers?: Record<string, string>;
  /** The assistant message's content (wrapped into a chat.completion), unless `raw` is given. */
  content?: string;
  /** A refusal: the message then has no content. */
  refusal?: string;
  /** The choice's `logprobs.content`: each generated token with its top alternatives. */
  logprobs?: { token: string; logprob: number; top_logprobs: { token: string; logprob: number }[] }[];
  raw?: unknown;
  delayMs?: number;
}

export interface FakeOpenAI {
  baseURL: string;
  requests: ChatRequest[];
  close(): Promise<void>;
}

export async function startFakeOpenAI(answer: (req: ChatRequest, index: number) => Reply): Promise<FakeOpenAI> {
  const requests: ChatRequest[] = [];
  const server: Server = createServer((req, res) => {
    let data = '';
    req.on('data', (chunk) => (data += chunk));
    req.on('end', () => {
      const request = { headers: req.headers, body: JSON.parse(data || '{}') };
      requests.push(request);
      const reply = answer(request, requests.length - 1);
      const send = () => {
        if (res.destroyed) return;
        const body =
          reply.raw ??
          (reply.status && reply.status >= 400
            ? { error: { message: `fake error ${reply.status}`, type: 'fake' } }
            : {
                id: `chatcmpl-${requests.length}`,
                object: 'chat.completion',
                created: 0,
                model: request.body.model,
                choices: [
                  {
                    index: 0,
                    message: reply.refusal !== undefined ? { role: 'assistant', content: null, refusal: reply.refusal } : { role: 'assistant', content: reply.content ?? '', refusal: null },
                    logprobs: reply.logprobs ? { content: reply.logprobs } : null,
                    finish_reason: 'stop',
                  },
                ],
                usage: { prompt_tokens: 100, completion_tokens: 20, total_tokens: 120 },
              });
        res.writeHead(reply.status ?? 200, { 'content-type': 'application/json', ...reply.headers });
        res.end(JSON.stringify(body));
      };
      if (reply.delayMs) setTimeout(send, reply.delayMs);
      else send();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  return {
    baseURL: `http://127.0.0.1:${port}/v1`,
    requests,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

/** A toy model behind the fake server: labels every unit "words for animals", and simulates animal words as 10. */
export function toyInterpreter(req: ChatRequest): Reply {
  const user = req.body.messages.find((m) => m.role === 'user')!.content;
  if (user.startsWith('Explanation:')) {
    const { sentences } = JSON.parse(user.slice(user.indexOf('{'))) as { sentences: string[][] };
    const animals = new Set(['dog', 'dogs', 'horse', 'cat', 'bird', 'birds', 'fish', 'animal', 'animals']);
    return { content: JSON.stringify({ sentences: sentences.map((s) => ({ activations: s.map((w) => (animals.has(w) ? 10 : 0)) })) }) };
  }
  return { content: JSON.stringify({ explanation: 'words for animals, e.g. "dog", "horse"' }) };
}
