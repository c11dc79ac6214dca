#include "hm_cli.h"
int hm_cli_send(int argc, char **argv) { return 2; }
