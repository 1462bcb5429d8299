#!/usr/bin/python3
# Run Samba's waf (from the Samba source tree that is the current
# directory) so that `waf install --targets=A,B` installs A and B and the
# libraries and modules they link, as `waf install` does for everything.
#
# Why: waf posts only the named task generators of the targets' build
# group. Samba's install hooks (buildtools/wafsamba/samba_install.py)
# create, while a target is posted, a ".inst" clone of each library
# (relinked with the install rpath) and install_as/symlink_as task
# generators; waf would post none of those, so a targeted install
# installs nothing of the targets. Here, once a targeted group is
# posted, the install task generators created meanwhile are posted too,
# and so are the ".inst" clones of posted libraries. Without --targets, or for
# `waf build`, this is Samba's waf unchanged.
#
# Usage (in the Samba tree): python3 waf-install-targets.py install \
#     --targets=smbd/smbd,testparm --destdir=DIR
# Used by buildtools/samba/build.sh.
import os
import sys

cwd = os.getcwd()
wafdir = os.path.join(cwd, 'third_party', 'waf')
sys.path.insert(0, os.path.join(wafdir, 'waflib'))
sys.path.insert(0, wafdir)

# As buildtools/bin/waf does before it starts.
from waflib.Tools import ccroot, c, ar, compiler_c, gcc  # noqa: E402
sys.modules['cc'] = c
sys.modules['ccroot'] = ccroot
sys.modules['ar'] = ar
sys.modules['compiler_cc'] = compiler_c
sys.modules['gcc'] = gcc

from waflib import Options, Task, Build, TaskGen, Scripting, Context  # noqa: E402
Options.lockfile = os.environ.get('WAFLOCK', '.lock-wscript')
if os.path.isfile(Options.lockfile) and os.stat(Options.lockfile).st_size == 0:
    os.environ['NOCLIMB'] = "1"
os.environ['NO_LOCK_IN_TOP'] = "1"


class _o(object):
    display = None


Task.classes['cc_link'] = _o


def _targeted(bld):
    return (getattr(bld, 'is_install', 0) and bld.targets not in ('', '*')
            and bld.current_group >= getattr(bld, '_min_grp', 0))


def _wrap_install(name):
    orig = getattr(Build.BuildContext, name)

    def wrapped(self, *args, **kw):
        tg = orig(self, *args, **kw)
        if getattr(self, '_sd_posting', False):
            self._sd_new.append(tg)
        return tg
    setattr(Build.BuildContext, name, wrapped)


for _name in ('install_as', 'symlink_as', 'install_files'):
    _wrap_install(_name)

_orig_post_group = Build.BuildContext.post_group


def _post_group(self):
    if not _targeted(self):
        return _orig_post_group(self)
    # Install task generators made while the targets (and what they
    # link) are posted, and the ".inst" clones of posted libraries.
    self._sd_posting = True
    self._sd_new = []
    try:
        _orig_post_group(self)
        group = self.groups[self.current_group]
        changed = True
        while changed:
            changed = False
            posted = set(getattr(tg, 'name', None) for tg in group
                         if getattr(tg, 'posted', False))
            for tg in list(group):
                if not isinstance(tg, TaskGen.task_gen) or getattr(tg, 'posted', False):
                    continue
                name = str(getattr(tg, 'name', '') or '')
                if (name.endswith('.inst') and name[:-len('.inst')] in posted) or \
                        any(tg is n for n in self._sd_new):
                    tg.post()
                    changed = True
    finally:
        self._sd_posting = False


Build.BuildContext.post_group = _post_group

Scripting.waf_entry_point(cwd, Context.WAFVERSION, wafdir)
