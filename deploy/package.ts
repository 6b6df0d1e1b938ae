/**
 * `npm run package -- [--stage dev] [--out .serverless] [--region …]`: the deployable package, built offline —
 * one esbuild bundle per function zipped in `<out>/<function>.zip` and the CloudFormation template
 * `<out>/cloudformation-template-update-stack.json`. `serverless deploy --stage …` builds the same thing and uploads it.
 */
import { parseArgs } from 'node:util';
import { relative } from 'node:path';
import { packageService } from './packageService.js';

const HELP = `Usage: npm run package -- [options]

  --stage <name>    Stage to package. Default dev
  --region <name>   Region. Default from serverless.yml
  --out <dir>       Output folder (emptied first). Default .serverless
  -h, --help`;

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      stage: { type: 'string', default: 'dev' },
      region: { type: 'string' },
      out: { type: 'string', default: '.serverless' },
      help: { type: 'boolean', short: 'h', default: false },
    },
    strict: true,
  });
  if (values.help) return void console.log(HELP);
  const root = process.cwd();
  const started = Date.now();
  const result = await packageService({
    root,
    stage: values.stage!,
    outDir: values.out!,
    ...(values.region ? { region: values.region } : {}),
  });
  console.log(`packaged stage ${values.stage} offline in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  for (const fn of result.functions)
    console.log(`  ${fn.name.padEnd(12)} ${relative(root, fn.zip)}  ${(fn.zipBytes / 1024).toFixed(0)} KiB  (${fn.handler})`);
  console.log(`  template     ${relative(root, result.templateFile)}`);
  // Offline, ${ssm:…} comes from the emulator's parameter files; `serverless deploy` reads Parameter Store.
  for (const p of result.ssmParameters)
    console.log(
      `  ssm          ${p.name} ${p.found ? 'from the local parameter files (a deploy reads Parameter Store)' : "not in the local parameter files: the variable's default applies"}`,
    );
}

main().catch((error: Error) => {
  console.error(error.message);
  process.exit(1);
});
