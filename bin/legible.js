#!/usr/bin/env node
// The `legible` command: runs cli/legible.ts through tsx, so the TypeScript sources are the program.
require('tsx/cjs');
require('../cli/legible.ts');
