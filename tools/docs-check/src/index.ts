export { type CodeBlock, codeBlocks, codeBlocksOf, isCode } from './markdown.js';
export {
  appDir,
  type ExampleRun,
  ROOT,
  runExample,
  type StartedExample,
  startExample,
} from './run-example.js';
export { syncExamples } from './sync.js';
