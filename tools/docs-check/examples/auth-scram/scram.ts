import { createScramProvider } from '@tributary/auth-scram';
import { staticCredentials } from '@tributary/core';

const scram = createScramProvider();
const server = scram.createServer({ credentials: staticCredentials({ alice: 'pencil' }), secure: false });
const client = scram.createClient({
  mechanism: 'SCRAM-SHA512',
  username: 'alice',
  password: 'pencil',
  secure: false,
});

let step = await server.begin('SCRAM-SHA512', client.start()); // SASL_AUTH
while (!step.done) step = await server.step(client.step(step.challenge)); // AUTH_CONTINUE / SASL_STEP
if (step.final) client.finish(step.final); // verifies v=<server signature>
console.log(step.username); // alice
