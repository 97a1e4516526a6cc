import { Connection } from '@temporalio/client';
import { legibleClient } from './temporal/client';
import { runHistories, stepsOf } from './temporal/runs';
(async () => {
  const c = legibleClient(await Connection.connect({ address: 'localhost:7395' }), '/tmp/t15/home2');
  const id = process.argv[2]!;
  const hs = await runHistories(c, id);
  for (const h of hs) console.log(h.workflowId, h.events.length, stepsOf(h.events).length);
})();
