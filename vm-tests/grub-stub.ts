// Prints the static grub.cfg of the vm-tests ESP (build-image.sh): bootloader/'s stub,
// finding the /boot filesystem by label and `source`-ing the current loader/grub.cfg,
// then a menu timeout override. With `source` the menu entries land in the stub's context,
// so a `set timeout` after it wins over the generated file's 5 s, which would add 5 s to
// every test boot; the menu, default and boot counting stay exactly as generated.
import { renderGrubStub } from '../bootloader/index.ts';

const [label = 'boot', timeout = '0'] = process.argv.slice(2);
process.stdout.write(renderGrubStub({ bootIsSeparate: true, command: 'source', search: { by: 'label', value: label } }));
process.stdout.write(`set timeout=${Number(timeout)}\n`);
