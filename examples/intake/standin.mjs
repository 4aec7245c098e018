// A local stand-in for GitHub's REST API (the test kit's, libs/testing/src/github-standin.ts),
// seeded with three issues of acme/api: #1 and #2 labelled `rein`, #3 not. github.com is never
// contacted. Run `npm run build:js` first; then:
//
//   node examples/intake/standin.mjs
//
// It listens on a free port, prints `github stand-in listening on URL token TOKEN`, serves until stopped.
import { startGitHubStandin } from '../../dist/libs/testing/src/github-standin.js';

const gh = await startGitHubStandin({ token: 'ghp_example_standin', repository: 'acme/api' });
gh.addIssue({ title: 'Login fails with a + in the email', labels: ['rein', 'bug'] });
gh.addIssue({ title: 'Typo in the footer', labels: ['rein'] });
gh.addIssue({ title: 'How do I export my data?', labels: ['question'] });
console.log(`github stand-in listening on ${gh.url} token ${gh.token}`);
const stop = () => void gh.close().then(() => process.exit(0));
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
