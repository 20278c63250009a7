// The repo config key file: a parse/print round trip changes nothing, however often it runs.

import { describe, expect, it } from 'vitest';
import { KeyFile } from './keyfile.ts';

const TEXT = `[core]
repo_version=1
mode=archive-z2

# the upstream
[remote "origin"]
url=http://example.com/repo
sign-verify=true

[remote "b"]
url=file:///srv/repo
`;

describe('KeyFile', () => {
  it('prints what it parsed, and repeated rewrites do not grow the file', () => {
    let text = TEXT;
    for (let i = 0; i < 3; i++) text = KeyFile.parse(text).toString();
    expect(text).toBe(TEXT);
  });

  it('set and remove keep one blank line between groups', () => {
    const kf = KeyFile.parse(TEXT);
    kf.set('core', 'indexed-deltas', 'true');
    kf.remove('remote "b"');
    kf.set('remote "c"', 'url', 'http://c/');
    expect(kf.toString()).toBe(`[core]
repo_version=1
mode=archive-z2
indexed-deltas=true

# the upstream
[remote "origin"]
url=http://example.com/repo
sign-verify=true

[remote "c"]
url=http://c/
`);
  });
});
