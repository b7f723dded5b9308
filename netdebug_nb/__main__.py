from netdebug_nb.cli import entry

entry()
