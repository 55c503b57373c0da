#!/bin/sh
# gen-modules-c.sh: write the symbol table nginx dlsym()s from a module .so
# (what nginx's configure would generate as *_modules.c).
set -e
echo '#include <ngx_config.h>'
echo '#include <ngx_core.h>'
while read -r m; do echo "extern ngx_module_t $m;"; done <"$1"
echo 'ngx_module_t *ngx_modules[] = {'
while read -r m; do echo "    &$m,"; done <"$1"
echo '    NULL };'
echo 'char *ngx_module_names[] = {'
while read -r m; do echo "    \"$m\","; done <"$1"
echo '    NULL };'
echo 'char *ngx_module_order[] = { NULL };'
