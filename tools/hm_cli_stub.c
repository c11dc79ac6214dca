#include "hm_cli.h"
int hm_cli_send(int argc, char **argv) { return 2; }
int hm_cli_export(int argc, char **argv) { return 2; }
int hm_cli_import(int argc, char **argv) { return 2; }
