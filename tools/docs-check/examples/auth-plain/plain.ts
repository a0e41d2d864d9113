import { createPlainProvider } from '@tributary/auth-plain';
import { staticCredentials } from '@tributary/core';

const plain = createPlainProvider({ allowInsecurePlain: true });
const server = plain.createServer({ credentials: staticCredentials({ user: 'pencil' }), secure: false });
const client = plain.createClient({ username: 'user', password: 'pencil', secure: false });
const step = await server.begin('PLAIN', client.start()); // value "\0user\0pencil"
console.log(step); // { done: true, username: 'user' }
