# Print an optspec for argparse to handle cmd's options that are independent of any subcommand.
function __fish_weftctl_global_optspecs
    string join \n n/nodes= e/endpoints= context= weftconfig= timeout= h/help V/version
end

function __fish_weftctl_needs_command
    # Figure out if the current invocation already has a command.
    set -l cmd (commandline -opc)
    set -e cmd[1]
    argparse -s (__fish_weftctl_global_optspecs) -- $cmd 2>/dev/null
    or return
    if set -q argv[1]
        # Also print the command, so this can be used to figure out what it is.
        echo $argv[1]
        return 1
    end
    return 0
end

function __fish_weftctl_using_subcommand
    set -l cmd (__fish_weftctl_needs_command)
    test -z "$cmd"
    and return 1
    contains -- $cmd[1] $argv
end

complete -c weftctl -n "__fish_weftctl_needs_command" -s n -l nodes -d 'Target nodes, comma-separated (host or host:port, default port 50000), dialed directly; for `cluster create`, one number: the total number of nodes' -r
complete -c weftctl -n "__fish_weftctl_needs_command" -s e -l endpoints -d 'Endpoints to use when no nodes are given, comma-separated (weftctl has no API proxy: with nodes, they are ignored)' -r
complete -c weftctl -n "__fish_weftctl_needs_command" -l context -d 'Context to use instead of the client config\'s current one' -r
complete -c weftctl -n "__fish_weftctl_needs_command" -l weftconfig -l talosconfig -d 'Client config file [default: $TALOSCONFIG, else ~/.weft/config]' -r -F
complete -c weftctl -n "__fish_weftctl_needs_command" -l timeout -d 'Connection and request timeout' -r
complete -c weftctl -n "__fish_weftctl_needs_command" -s h -l help -d 'Print help'
complete -c weftctl -n "__fish_weftctl_needs_command" -s V -l version -d 'Print version'
complete -c weftctl -n "__fish_weftctl_needs_command" -f -a "gen" -d 'Generate secrets and configuration files'
complete -c weftctl -n "__fish_weftctl_needs_command" -f -a "validate" -d 'Validate a machine config'
complete -c weftctl -n "__fish_weftctl_needs_command" -f -a "version" -d 'Print the version'
complete -c weftctl -n "__fish_weftctl_needs_command" -f -a "completion" -d 'Output shell completion code for the given shell'
complete -c weftctl -n "__fish_weftctl_needs_command" -f -a "get" -d 'Get a specific resource or list of resources'
complete -c weftctl -n "__fish_weftctl_needs_command" -f -a "g" -d 'Get a specific resource or list of resources'
complete -c weftctl -n "__fish_weftctl_needs_command" -f -a "apply-config" -d 'Apply a new machine config to nodes, immediately (no restart)'
complete -c weftctl -n "__fish_weftctl_needs_command" -f -a "config" -d 'Manage the client config (contexts, credentials)'
complete -c weftctl -n "__fish_weftctl_needs_command" -f -a "cluster" -d 'Create or destroy a local mesh of nodes in network namespaces (needs root)'
complete -c weftctl -n "__fish_weftctl_needs_command" -f -a "health" -d 'Check that every node is healthy: API, KubeSpan identity, discovery, every peer up'
complete -c weftctl -n "__fish_weftctl_needs_command" -f -a "leave" -d 'Withdraw nodes from the cluster\'s discovery services (needs os:admin)'
complete -c weftctl -n "__fish_weftctl_needs_command" -f -a "external-peer" -d 'Publish WireGuard devices that run no weftd as cluster members (needs os:admin)'
complete -c weftctl -n "__fish_weftctl_needs_command" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c weftctl -n "__fish_weftctl_using_subcommand gen; and not __fish_seen_subcommand_from secrets config help" -s n -l nodes -d 'Target nodes, comma-separated (host or host:port, default port 50000), dialed directly; for `cluster create`, one number: the total number of nodes' -r
complete -c weftctl -n "__fish_weftctl_using_subcommand gen; and not __fish_seen_subcommand_from secrets config help" -s e -l endpoints -d 'Endpoints to use when no nodes are given, comma-separated (weftctl has no API proxy: with nodes, they are ignored)' -r
complete -c weftctl -n "__fish_weftctl_using_subcommand gen; and not __fish_seen_subcommand_from secrets config help" -l context -d 'Context to use instead of the client config\'s current one' -r
complete -c weftctl -n "__fish_weftctl_using_subcommand gen; and not __fish_seen_subcommand_from secrets config help" -l weftconfig -l talosconfig -d 'Client config file [default: $TALOSCONFIG, else ~/.weft/config]' -r -F
complete -c weftctl -n "__fish_weftctl_using_subcommand gen; and not __fish_seen_subcommand_from secrets config help" -l timeout -d 'Connection and request timeout' -r
complete -c weftctl -n "__fish_weftctl_using_subcommand gen; and not __fish_seen_subcommand_from secrets config help" -s f -l force -d 'Overwrite existing files'
complete -c weftctl -n "__fish_weftctl_using_subcommand gen; and not __fish_seen_subcommand_from secrets config help" -s h -l help -d 'Print help'
complete -c weftctl -n "__fish_weftctl_using_subcommand gen; and not __fish_seen_subcommand_from secrets config help" -s V -l version -d 'Print version'
complete -c weftctl -n "__fish_weftctl_using_subcommand gen; and not __fish_seen_subcommand_from secrets config help" -f -a "secrets" -d 'Generate a secrets bundle: cluster id and secret, and the node API CA'
complete -c weftctl -n "__fish_weftctl_using_subcommand gen; and not __fish_seen_subcommand_from secrets config help" -f -a "config" -d 'Generate machine configs and a client config for a new cluster'
complete -c weftctl -n "__fish_weftctl_using_subcommand gen; and not __fish_seen_subcommand_from secrets config help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c weftctl -n "__fish_weftctl_using_subcommand gen; and __fish_seen_subcommand_from secrets" -s o -l output-file -d 'Path of the secrets bundle to write' -r -F
complete -c weftctl -n "__fish_weftctl_using_subcommand gen; and __fish_seen_subcommand_from secrets" -s n -l nodes -d 'Target nodes, comma-separated (host or host:port, default port 50000), dialed directly; for `cluster create`, one number: the total number of nodes' -r
complete -c weftctl -n "__fish_weftctl_using_subcommand gen; and __fish_seen_subcommand_from secrets" -s e -l endpoints -d 'Endpoints to use when no nodes are given, comma-separated (weftctl has no API proxy: with nodes, they are ignored)' -r
complete -c weftctl -n "__fish_weftctl_using_subcommand gen; and __fish_seen_subcommand_from secrets" -l context -d 'Context to use instead of the client config\'s current one' -r
complete -c weftctl -n "__fish_weftctl_using_subcommand gen; and __fish_seen_subcommand_from secrets" -l weftconfig -l talosconfig -d 'Client config file [default: $TALOSCONFIG, else ~/.weft/config]' -r -F
complete -c weftctl -n "__fish_weftctl_using_subcommand gen; and __fish_seen_subcommand_from secrets" -l timeout -d 'Connection and request timeout' -r
complete -c weftctl -n "__fish_weftctl_using_subcommand gen; and __fish_seen_subcommand_from secrets" -s f -l force -d 'Overwrite existing files'
complete -c weftctl -n "__fish_weftctl_using_subcommand gen; and __fish_seen_subcommand_from secrets" -s h -l help -d 'Print help'
complete -c weftctl -n "__fish_weftctl_using_subcommand gen; and __fish_seen_subcommand_from secrets" -s V -l version -d 'Print version'
complete -c weftctl -n "__fish_weftctl_using_subcommand gen; and __fish_seen_subcommand_from config" -l with-cluster-discovery -d 'Enable cluster discovery' -r -f -a "true\t''
false\t''"
complete -c weftctl -n "__fish_weftctl_using_subcommand gen; and __fish_seen_subcommand_from config" -l with-secrets -d 'Use the secrets bundle at this path instead of generating new secrets' -r -F
complete -c weftctl -n "__fish_weftctl_using_subcommand gen; and __fish_seen_subcommand_from config" -l discovery-endpoint -d 'Discovery service URL (repeatable); the first replaces the default https://discovery.talos.dev/, the others are added' -r
complete -c weftctl -n "__fish_weftctl_using_subcommand gen; and __fish_seen_subcommand_from config" -s o -l output -d 'Output: a directory, a file (with one output type), or - for stdout (with one output type)' -r -F
complete -c weftctl -n "__fish_weftctl_using_subcommand gen; and __fish_seen_subcommand_from config" -s t -l output-types -d 'Types of output to generate' -r -f -a "controlplane\t'controlplane.yaml'
worker\t'worker.yaml'
weftconfig\t'weftconfig, the client config'"
complete -c weftctl -n "__fish_weftctl_using_subcommand gen; and __fish_seen_subcommand_from config" -l config-patch -d 'Patch applied to every machine config: @file or inline YAML (repeatable)' -r
complete -c weftctl -n "__fish_weftctl_using_subcommand gen; and __fish_seen_subcommand_from config" -l config-patch-control-plane -d 'Patch applied to the controlplane config only (repeatable)' -r
complete -c weftctl -n "__fish_weftctl_using_subcommand gen; and __fish_seen_subcommand_from config" -l config-patch-worker -d 'Patch applied to the worker config only (repeatable)' -r
complete -c weftctl -n "__fish_weftctl_using_subcommand gen; and __fish_seen_subcommand_from config" -l additional-sans -d 'Extra names and addresses of the node API certificate, comma-separated (machine.certSANs)' -r
complete -c weftctl -n "__fish_weftctl_using_subcommand gen; and __fish_seen_subcommand_from config" -l with-docs -d 'talosctl\'s commented field documentation in the machine configs; accepted and ignored (Weft\'s configs are short, `weftctl validate` explains every field it refuses)' -r -f -a "true\t''
false\t''"
complete -c weftctl -n "__fish_weftctl_using_subcommand gen; and __fish_seen_subcommand_from config" -l with-examples -d 'talosctl\'s commented examples in the machine configs; accepted and ignored' -r -f -a "true\t''
false\t''"
complete -c weftctl -n "__fish_weftctl_using_subcommand gen; and __fish_seen_subcommand_from config" -s n -l nodes -d 'Target nodes, comma-separated (host or host:port, default port 50000), dialed directly; for `cluster create`, one number: the total number of nodes' -r
complete -c weftctl -n "__fish_weftctl_using_subcommand gen; and __fish_seen_subcommand_from config" -s e -l endpoints -d 'Endpoints to use when no nodes are given, comma-separated (weftctl has no API proxy: with nodes, they are ignored)' -r
complete -c weftctl -n "__fish_weftctl_using_subcommand gen; and __fish_seen_subcommand_from config" -l context -d 'Context to use instead of the client config\'s current one' -r
complete -c weftctl -n "__fish_weftctl_using_subcommand gen; and __fish_seen_subcommand_from config" -l weftconfig -l talosconfig -d 'Client config file [default: $TALOSCONFIG, else ~/.weft/config]' -r -F
complete -c weftctl -n "__fish_weftctl_using_subcommand gen; and __fish_seen_subcommand_from config" -l timeout -d 'Connection and request timeout' -r
complete -c weftctl -n "__fish_weftctl_using_subcommand gen; and __fish_seen_subcommand_from config" -l with-kubespan -d 'Enable KubeSpan (and cluster discovery)'
complete -c weftctl -n "__fish_weftctl_using_subcommand gen; and __fish_seen_subcommand_from config" -s f -l force -d 'Overwrite existing files'
complete -c weftctl -n "__fish_weftctl_using_subcommand gen; and __fish_seen_subcommand_from config" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c weftctl -n "__fish_weftctl_using_subcommand gen; and __fish_seen_subcommand_from config" -s V -l version -d 'Print version'
complete -c weftctl -n "__fish_weftctl_using_subcommand gen; and __fish_seen_subcommand_from help" -f -a "secrets" -d 'Generate a secrets bundle: cluster id and secret, and the node API CA'
complete -c weftctl -n "__fish_weftctl_using_subcommand gen; and __fish_seen_subcommand_from help" -f -a "config" -d 'Generate machine configs and a client config for a new cluster'
complete -c weftctl -n "__fish_weftctl_using_subcommand gen; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c weftctl -n "__fish_weftctl_using_subcommand validate" -s c -l config -d 'Path of the machine config to validate' -r -F
complete -c weftctl -n "__fish_weftctl_using_subcommand validate" -s m -l mode -d 'talosctl\'s platform mode (metal, cloud, container); accepted and ignored: Weft\'s config does not depend on the platform' -r -f -a "metal\t''
cloud\t''
container\t''"
complete -c weftctl -n "__fish_weftctl_using_subcommand validate" -s n -l nodes -d 'Target nodes, comma-separated (host or host:port, default port 50000), dialed directly; for `cluster create`, one number: the total number of nodes' -r
complete -c weftctl -n "__fish_weftctl_using_subcommand validate" -s e -l endpoints -d 'Endpoints to use when no nodes are given, comma-separated (weftctl has no API proxy: with nodes, they are ignored)' -r
complete -c weftctl -n "__fish_weftctl_using_subcommand validate" -l context -d 'Context to use instead of the client config\'s current one' -r
complete -c weftctl -n "__fish_weftctl_using_subcommand validate" -l weftconfig -l talosconfig -d 'Client config file [default: $TALOSCONFIG, else ~/.weft/config]' -r -F
complete -c weftctl -n "__fish_weftctl_using_subcommand validate" -l timeout -d 'Connection and request timeout' -r
complete -c weftctl -n "__fish_weftctl_using_subcommand validate" -l strict -d 'Fail on warnings too'
complete -c weftctl -n "__fish_weftctl_using_subcommand validate" -s h -l help -d 'Print help'
complete -c weftctl -n "__fish_weftctl_using_subcommand validate" -s V -l version -d 'Print version'
complete -c weftctl -n "__fish_weftctl_using_subcommand version" -s n -l nodes -d 'Target nodes, comma-separated (host or host:port, default port 50000), dialed directly; for `cluster create`, one number: the total number of nodes' -r
complete -c weftctl -n "__fish_weftctl_using_subcommand version" -s e -l endpoints -d 'Endpoints to use when no nodes are given, comma-separated (weftctl has no API proxy: with nodes, they are ignored)' -r
complete -c weftctl -n "__fish_weftctl_using_subcommand version" -l context -d 'Context to use instead of the client config\'s current one' -r
complete -c weftctl -n "__fish_weftctl_using_subcommand version" -l weftconfig -l talosconfig -d 'Client config file [default: $TALOSCONFIG, else ~/.weft/config]' -r -F
complete -c weftctl -n "__fish_weftctl_using_subcommand version" -l timeout -d 'Connection and request timeout' -r
complete -c weftctl -n "__fish_weftctl_using_subcommand version" -l short -d 'Print only the version number'
complete -c weftctl -n "__fish_weftctl_using_subcommand version" -l client -d 'Print the client\'s version only, without asking any node'
complete -c weftctl -n "__fish_weftctl_using_subcommand version" -s h -l help -d 'Print help'
complete -c weftctl -n "__fish_weftctl_using_subcommand version" -s V -l version -d 'Print version'
complete -c weftctl -n "__fish_weftctl_using_subcommand completion" -s n -l nodes -d 'Target nodes, comma-separated (host or host:port, default port 50000), dialed directly; for `cluster create`, one number: the total number of nodes' -r
complete -c weftctl -n "__fish_weftctl_using_subcommand completion" -s e -l endpoints -d 'Endpoints to use when no nodes are given, comma-separated (weftctl has no API proxy: with nodes, they are ignored)' -r
complete -c weftctl -n "__fish_weftctl_using_subcommand completion" -l context -d 'Context to use instead of the client config\'s current one' -r
complete -c weftctl -n "__fish_weftctl_using_subcommand completion" -l weftconfig -l talosconfig -d 'Client config file [default: $TALOSCONFIG, else ~/.weft/config]' -r -F
complete -c weftctl -n "__fish_weftctl_using_subcommand completion" -l timeout -d 'Connection and request timeout' -r
complete -c weftctl -n "__fish_weftctl_using_subcommand completion" -s h -l help -d 'Print help'
complete -c weftctl -n "__fish_weftctl_using_subcommand completion" -s V -l version -d 'Print version'
complete -c weftctl -n "__fish_weftctl_using_subcommand get" -l namespace -d 'Namespace [default: the type\'s own]' -r
complete -c weftctl -n "__fish_weftctl_using_subcommand get" -s o -l output -d 'Output format: table, yaml, json or jsonpath=EXPR' -r
complete -c weftctl -n "__fish_weftctl_using_subcommand get" -s n -l nodes -d 'Target nodes, comma-separated (host or host:port, default port 50000), dialed directly; for `cluster create`, one number: the total number of nodes' -r
complete -c weftctl -n "__fish_weftctl_using_subcommand get" -s e -l endpoints -d 'Endpoints to use when no nodes are given, comma-separated (weftctl has no API proxy: with nodes, they are ignored)' -r
complete -c weftctl -n "__fish_weftctl_using_subcommand get" -l context -d 'Context to use instead of the client config\'s current one' -r
complete -c weftctl -n "__fish_weftctl_using_subcommand get" -l weftconfig -l talosconfig -d 'Client config file [default: $TALOSCONFIG, else ~/.weft/config]' -r -F
complete -c weftctl -n "__fish_weftctl_using_subcommand get" -l timeout -d 'Connection and request timeout' -r
complete -c weftctl -n "__fish_weftctl_using_subcommand get" -s w -l watch -d 'Watch for changes'
complete -c weftctl -n "__fish_weftctl_using_subcommand get" -s i -l insecure -d 'talosctl\'s maintenance-mode flag; refused (weftd has no maintenance mode, every call is authenticated)'
complete -c weftctl -n "__fish_weftctl_using_subcommand get" -s h -l help -d 'Print help'
complete -c weftctl -n "__fish_weftctl_using_subcommand get" -s V -l version -d 'Print version'
complete -c weftctl -n "__fish_weftctl_using_subcommand g" -l namespace -d 'Namespace [default: the type\'s own]' -r
complete -c weftctl -n "__fish_weftctl_using_subcommand g" -s o -l output -d 'Output format: table, yaml, json or jsonpath=EXPR' -r
complete -c weftctl -n "__fish_weftctl_using_subcommand g" -s n -l nodes -d 'Target nodes, comma-separated (host or host:port, default port 50000), dialed directly; for `cluster create`, one number: the total number of nodes' -r
complete -c weftctl -n "__fish_weftctl_using_subcommand g" -s e -l endpoints -d 'Endpoints to use when no nodes are given, comma-separated (weftctl has no API proxy: with nodes, they are ignored)' -r
complete -c weftctl -n "__fish_weftctl_using_subcommand g" -l context -d 'Context to use instead of the client config\'s current one' -r
complete -c weftctl -n "__fish_weftctl_using_subcommand g" -l weftconfig -l talosconfig -d 'Client config file [default: $TALOSCONFIG, else ~/.weft/config]' -r -F
complete -c weftctl -n "__fish_weftctl_using_subcommand g" -l timeout -d 'Connection and request timeout' -r
complete -c weftctl -n "__fish_weftctl_using_subcommand g" -s w -l watch -d 'Watch for changes'
complete -c weftctl -n "__fish_weftctl_using_subcommand g" -s i -l insecure -d 'talosctl\'s maintenance-mode flag; refused (weftd has no maintenance mode, every call is authenticated)'
complete -c weftctl -n "__fish_weftctl_using_subcommand g" -s h -l help -d 'Print help'
complete -c weftctl -n "__fish_weftctl_using_subcommand g" -s V -l version -d 'Print version'
complete -c weftctl -n "__fish_weftctl_using_subcommand apply-config" -s f -l file -d 'The machine config to apply' -r -F
complete -c weftctl -n "__fish_weftctl_using_subcommand apply-config" -s m -l mode -d 'talosctl\'s apply mode: weftd applies every config live, so auto, no-reboot and reboot all apply it now; staged and try are refused (weftd keeps no staged or trial config)' -r -f -a "auto\t'Apply now (what weftd always does)'
no-reboot\t'Apply now, no reboot (what weftd always does)'
reboot\t'Apply now; weftd needs no reboot, so none happens'
staged\t'Refused: weftd keeps no staged config for the next boot'
try\t'Refused: weftd has no trial config that rolls back by itself'"
complete -c weftctl -n "__fish_weftctl_using_subcommand apply-config" -s n -l nodes -d 'Target nodes, comma-separated (host or host:port, default port 50000), dialed directly; for `cluster create`, one number: the total number of nodes' -r
complete -c weftctl -n "__fish_weftctl_using_subcommand apply-config" -s e -l endpoints -d 'Endpoints to use when no nodes are given, comma-separated (weftctl has no API proxy: with nodes, they are ignored)' -r
complete -c weftctl -n "__fish_weftctl_using_subcommand apply-config" -l context -d 'Context to use instead of the client config\'s current one' -r
complete -c weftctl -n "__fish_weftctl_using_subcommand apply-config" -l weftconfig -l talosconfig -d 'Client config file [default: $TALOSCONFIG, else ~/.weft/config]' -r -F
complete -c weftctl -n "__fish_weftctl_using_subcommand apply-config" -l timeout -d 'Connection and request timeout' -r
complete -c weftctl -n "__fish_weftctl_using_subcommand apply-config" -l dry-run -d 'Check the config on the node without applying it'
complete -c weftctl -n "__fish_weftctl_using_subcommand apply-config" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c weftctl -n "__fish_weftctl_using_subcommand apply-config" -s V -l version -d 'Print version'
complete -c weftctl -n "__fish_weftctl_using_subcommand config; and not __fish_seen_subcommand_from new contexts use-context context merge remove info endpoint endpoints node nodes add help" -s n -l nodes -d 'Target nodes, comma-separated (host or host:port, default port 50000), dialed directly; for `cluster create`, one number: the total number of nodes' -r
complete -c weftctl -n "__fish_weftctl_using_subcommand config; and not __fish_seen_subcommand_from new contexts use-context context merge remove info endpoint endpoints node nodes add help" -s e -l endpoints -d 'Endpoints to use when no nodes are given, comma-separated (weftctl has no API proxy: with nodes, they are ignored)' -r
complete -c weftctl -n "__fish_weftctl_using_subcommand config; and not __fish_seen_subcommand_from new contexts use-context context merge remove info endpoint endpoints node nodes add help" -l context -d 'Context to use instead of the client config\'s current one' -r
complete -c weftctl -n "__fish_weftctl_using_subcommand config; and not __fish_seen_subcommand_from new contexts use-context context merge remove info endpoint endpoints node nodes add help" -l weftconfig -l talosconfig -d 'Client config file [default: $TALOSCONFIG, else ~/.weft/config]' -r -F
complete -c weftctl -n "__fish_weftctl_using_subcommand config; and not __fish_seen_subcommand_from new contexts use-context context merge remove info endpoint endpoints node nodes add help" -l timeout -d 'Connection and request timeout' -r
complete -c weftctl -n "__fish_weftctl_using_subcommand config; and not __fish_seen_subcommand_from new contexts use-context context merge remove info endpoint endpoints node nodes add help" -s h -l help -d 'Print help'
complete -c weftctl -n "__fish_weftctl_using_subcommand config; and not __fish_seen_subcommand_from new contexts use-context context merge remove info endpoint endpoints node nodes add help" -s V -l version -d 'Print version'
complete -c weftctl -n "__fish_weftctl_using_subcommand config; and not __fish_seen_subcommand_from new contexts use-context context merge remove info endpoint endpoints node nodes add help" -f -a "new" -d 'Issue a client certificate on a node and write a client config around it (needs os:admin)'
complete -c weftctl -n "__fish_weftctl_using_subcommand config; and not __fish_seen_subcommand_from new contexts use-context context merge remove info endpoint endpoints node nodes add help" -f -a "contexts" -d 'List the contexts of the client config'
complete -c weftctl -n "__fish_weftctl_using_subcommand config; and not __fish_seen_subcommand_from new contexts use-context context merge remove info endpoint endpoints node nodes add help" -f -a "use-context" -d 'Make a context the current one'
complete -c weftctl -n "__fish_weftctl_using_subcommand config; and not __fish_seen_subcommand_from new contexts use-context context merge remove info endpoint endpoints node nodes add help" -f -a "context" -d 'Make a context the current one'
complete -c weftctl -n "__fish_weftctl_using_subcommand config; and not __fish_seen_subcommand_from new contexts use-context context merge remove info endpoint endpoints node nodes add help" -f -a "merge" -d 'Merge a client config (e.g. from gen config) into the default one'
complete -c weftctl -n "__fish_weftctl_using_subcommand config; and not __fish_seen_subcommand_from new contexts use-context context merge remove info endpoint endpoints node nodes add help" -f -a "remove" -d 'Remove contexts from the client config'
complete -c weftctl -n "__fish_weftctl_using_subcommand config; and not __fish_seen_subcommand_from new contexts use-context context merge remove info endpoint endpoints node nodes add help" -f -a "info" -d 'Show the current context: nodes, endpoints, roles, certificate expiry'
complete -c weftctl -n "__fish_weftctl_using_subcommand config; and not __fish_seen_subcommand_from new contexts use-context context merge remove info endpoint endpoints node nodes add help" -f -a "endpoint" -d 'Set the current context\'s endpoints'
complete -c weftctl -n "__fish_weftctl_using_subcommand config; and not __fish_seen_subcommand_from new contexts use-context context merge remove info endpoint endpoints node nodes add help" -f -a "endpoints" -d 'Set the current context\'s endpoints'
complete -c weftctl -n "__fish_weftctl_using_subcommand config; and not __fish_seen_subcommand_from new contexts use-context context merge remove info endpoint endpoints node nodes add help" -f -a "node" -d 'Set the current context\'s nodes'
complete -c weftctl -n "__fish_weftctl_using_subcommand config; and not __fish_seen_subcommand_from new contexts use-context context merge remove info endpoint endpoints node nodes add help" -f -a "nodes" -d 'Set the current context\'s nodes'
complete -c weftctl -n "__fish_weftctl_using_subcommand config; and not __fish_seen_subcommand_from new contexts use-context context merge remove info endpoint endpoints node nodes add help" -f -a "add" -d 'Add a context from CA, client certificate and key files (PEM)'
complete -c weftctl -n "__fish_weftctl_using_subcommand config; and not __fish_seen_subcommand_from new contexts use-context context merge remove info endpoint endpoints node nodes add help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c weftctl -n "__fish_weftctl_using_subcommand config; and __fish_seen_subcommand_from new" -l roles -d 'Roles of the new certificate, comma-separated (os:admin, os:reader)' -r
complete -c weftctl -n "__fish_weftctl_using_subcommand config; and __fish_seen_subcommand_from new" -l crt-ttl -d 'Validity of the certificate' -r
complete -c weftctl -n "__fish_weftctl_using_subcommand config; and __fish_seen_subcommand_from new" -s n -l nodes -d 'Target nodes, comma-separated (host or host:port, default port 50000), dialed directly; for `cluster create`, one number: the total number of nodes' -r
complete -c weftctl -n "__fish_weftctl_using_subcommand config; and __fish_seen_subcommand_from new" -s e -l endpoints -d 'Endpoints to use when no nodes are given, comma-separated (weftctl has no API proxy: with nodes, they are ignored)' -r
complete -c weftctl -n "__fish_weftctl_using_subcommand config; and __fish_seen_subcommand_from new" -l context -d 'Context to use instead of the client config\'s current one' -r
complete -c weftctl -n "__fish_weftctl_using_subcommand config; and __fish_seen_subcommand_from new" -l weftconfig -l talosconfig -d 'Client config file [default: $TALOSCONFIG, else ~/.weft/config]' -r -F
complete -c weftctl -n "__fish_weftctl_using_subcommand config; and __fish_seen_subcommand_from new" -l timeout -d 'Connection and request timeout' -r
complete -c weftctl -n "__fish_weftctl_using_subcommand config; and __fish_seen_subcommand_from new" -s f -l force -d 'Overwrite an existing file'
complete -c weftctl -n "__fish_weftctl_using_subcommand config; and __fish_seen_subcommand_from new" -s h -l help -d 'Print help'
complete -c weftctl -n "__fish_weftctl_using_subcommand config; and __fish_seen_subcommand_from new" -s V -l version -d 'Print version'
complete -c weftctl -n "__fish_weftctl_using_subcommand config; and __fish_seen_subcommand_from contexts" -s n -l nodes -d 'Target nodes, comma-separated (host or host:port, default port 50000), dialed directly; for `cluster create`, one number: the total number of nodes' -r
complete -c weftctl -n "__fish_weftctl_using_subcommand config; and __fish_seen_subcommand_from contexts" -s e -l endpoints -d 'Endpoints to use when no nodes are given, comma-separated (weftctl has no API proxy: with nodes, they are ignored)' -r
complete -c weftctl -n "__fish_weftctl_using_subcommand config; and __fish_seen_subcommand_from contexts" -l context -d 'Context to use instead of the client config\'s current one' -r
complete -c weftctl -n "__fish_weftctl_using_subcommand config; and __fish_seen_subcommand_from contexts" -l weftconfig -l talosconfig -d 'Client config file [default: $TALOSCONFIG, else ~/.weft/config]' -r -F
complete -c weftctl -n "__fish_weftctl_using_subcommand config; and __fish_seen_subcommand_from contexts" -l timeout -d 'Connection and request timeout' -r
complete -c weftctl -n "__fish_weftctl_using_subcommand config; and __fish_seen_subcommand_from contexts" -s h -l help -d 'Print help'
complete -c weftctl -n "__fish_weftctl_using_subcommand config; and __fish_seen_subcommand_from contexts" -s V -l version -d 'Print version'
complete -c weftctl -n "__fish_weftctl_using_subcommand config; and __fish_seen_subcommand_from use-context" -s n -l nodes -d 'Target nodes, comma-separated (host or host:port, default port 50000), dialed directly; for `cluster create`, one number: the total number of nodes' -r
complete -c weftctl -n "__fish_weftctl_using_subcommand config; and __fish_seen_subcommand_from use-context" -s e -l endpoints -d 'Endpoints to use when no nodes are given, comma-separated (weftctl has no API proxy: with nodes, they are ignored)' -r
complete -c weftctl -n "__fish_weftctl_using_subcommand config; and __fish_seen_subcommand_from use-context" -l context -d 'Context to use instead of the client config\'s current one' -r
complete -c weftctl -n "__fish_weftctl_using_subcommand config; and __fish_seen_subcommand_from use-context" -l weftconfig -l talosconfig -d 'Client config file [default: $TALOSCONFIG, else ~/.weft/config]' -r -F
complete -c weftctl -n "__fish_weftctl_using_subcommand config; and __fish_seen_subcommand_from use-context" -l timeout -d 'Connection and request timeout' -r
complete -c weftctl -n "__fish_weftctl_using_subcommand config; and __fish_seen_subcommand_from use-context" -s h -l help -d 'Print help'
complete -c weftctl -n "__fish_weftctl_using_subcommand config; and __fish_seen_subcommand_from use-context" -s V -l version -d 'Print version'
complete -c weftctl -n "__fish_weftctl_using_subcommand config; and __fish_seen_subcommand_from context" -s n -l nodes -d 'Target nodes, comma-separated (host or host:port, default port 50000), dialed directly; for `cluster create`, one number: the total number of nodes' -r
complete -c weftctl -n "__fish_weftctl_using_subcommand config; and __fish_seen_subcommand_from context" -s e -l endpoints -d 'Endpoints to use when no nodes are given, comma-separated (weftctl has no API proxy: with nodes, they are ignored)' -r
complete -c weftctl -n "__fish_weftctl_using_subcommand config; and __fish_seen_subcommand_from context" -l context -d 'Context to use instead of the client config\'s current one' -r
complete -c weftctl -n "__fish_weftctl_using_subcommand config; and __fish_seen_subcommand_from context" -l weftconfig -l talosconfig -d 'Client config file [default: $TALOSCONFIG, else ~/.weft/config]' -r -F
complete -c weftctl -n "__fish_weftctl_using_subcommand config; and __fish_seen_subcommand_from context" -l timeout -d 'Connection and request timeout' -r
complete -c weftctl -n "__fish_weftctl_using_subcommand config; and __fish_seen_subcommand_from context" -s h -l help -d 'Print help'
complete -c weftctl -n "__fish_weftctl_using_subcommand config; and __fish_seen_subcommand_from context" -s V -l version -d 'Print version'
complete -c weftctl -n "__fish_weftctl_using_subcommand config; and __fish_seen_subcommand_from merge" -s n -l nodes -d 'Target nodes, comma-separated (host or host:port, default port 50000), dialed directly; for `cluster create`, one number: the total number of nodes' -r
complete -c weftctl -n "__fish_weftctl_using_subcommand config; and __fish_seen_subcommand_from merge" -s e -l endpoints -d 'Endpoints to use when no nodes are given, comma-separated (weftctl has no API proxy: with nodes, they are ignored)' -r
complete -c weftctl -n "__fish_weftctl_using_subcommand config; and __fish_seen_subcommand_from merge" -l context -d 'Context to use instead of the client config\'s current one' -r
complete -c weftctl -n "__fish_weftctl_using_subcommand config; and __fish_seen_subcommand_from merge" -l weftconfig -l talosconfig -d 'Client config file [default: $TALOSCONFIG, else ~/.weft/config]' -r -F
complete -c weftctl -n "__fish_weftctl_using_subcommand config; and __fish_seen_subcommand_from merge" -l timeout -d 'Connection and request timeout' -r
complete -c weftctl -n "__fish_weftctl_using_subcommand config; and __fish_seen_subcommand_from merge" -s h -l help -d 'Print help'
complete -c weftctl -n "__fish_weftctl_using_subcommand config; and __fish_seen_subcommand_from merge" -s V -l version -d 'Print version'
complete -c weftctl -n "__fish_weftctl_using_subcommand config; and __fish_seen_subcommand_from remove" -s n -l nodes -d 'Target nodes, comma-separated (host or host:port, default port 50000), dialed directly; for `cluster create`, one number: the total number of nodes' -r
complete -c weftctl -n "__fish_weftctl_using_subcommand config; and __fish_seen_subcommand_from remove" -s e -l endpoints -d 'Endpoints to use when no nodes are given, comma-separated (weftctl has no API proxy: with nodes, they are ignored)' -r
complete -c weftctl -n "__fish_weftctl_using_subcommand config; and __fish_seen_subcommand_from remove" -l context -d 'Context to use instead of the client config\'s current one' -r
complete -c weftctl -n "__fish_weftctl_using_subcommand config; and __fish_seen_subcommand_from remove" -l weftconfig -l talosconfig -d 'Client config file [default: $TALOSCONFIG, else ~/.weft/config]' -r -F
complete -c weftctl -n "__fish_weftctl_using_subcommand config; and __fish_seen_subcommand_from remove" -l timeout -d 'Connection and request timeout' -r
complete -c weftctl -n "__fish_weftctl_using_subcommand config; and __fish_seen_subcommand_from remove" -s y -l noconfirm -d 'Do not ask for confirmation (it is asked only at a terminal)'
complete -c weftctl -n "__fish_weftctl_using_subcommand config; and __fish_seen_subcommand_from remove" -s h -l help -d 'Print help'
complete -c weftctl -n "__fish_weftctl_using_subcommand config; and __fish_seen_subcommand_from remove" -s V -l version -d 'Print version'
complete -c weftctl -n "__fish_weftctl_using_subcommand config; and __fish_seen_subcommand_from info" -s n -l nodes -d 'Target nodes, comma-separated (host or host:port, default port 50000), dialed directly; for `cluster create`, one number: the total number of nodes' -r
complete -c weftctl -n "__fish_weftctl_using_subcommand config; and __fish_seen_subcommand_from info" -s e -l endpoints -d 'Endpoints to use when no nodes are given, comma-separated (weftctl has no API proxy: with nodes, they are ignored)' -r
complete -c weftctl -n "__fish_weftctl_using_subcommand config; and __fish_seen_subcommand_from info" -l context -d 'Context to use instead of the client config\'s current one' -r
complete -c weftctl -n "__fish_weftctl_using_subcommand config; and __fish_seen_subcommand_from info" -l weftconfig -l talosconfig -d 'Client config file [default: $TALOSCONFIG, else ~/.weft/config]' -r -F
complete -c weftctl -n "__fish_weftctl_using_subcommand config; and __fish_seen_subcommand_from info" -l timeout -d 'Connection and request timeout' -r
complete -c weftctl -n "__fish_weftctl_using_subcommand config; and __fish_seen_subcommand_from info" -s h -l help -d 'Print help'
complete -c weftctl -n "__fish_weftctl_using_subcommand config; and __fish_seen_subcommand_from info" -s V -l version -d 'Print version'
complete -c weftctl -n "__fish_weftctl_using_subcommand config; and __fish_seen_subcommand_from endpoint" -s n -l nodes -d 'Target nodes, comma-separated (host or host:port, default port 50000), dialed directly; for `cluster create`, one number: the total number of nodes' -r
complete -c weftctl -n "__fish_weftctl_using_subcommand config; and __fish_seen_subcommand_from endpoint" -s e -l endpoints -d 'Endpoints to use when no nodes are given, comma-separated (weftctl has no API proxy: with nodes, they are ignored)' -r
complete -c weftctl -n "__fish_weftctl_using_subcommand config; and __fish_seen_subcommand_from endpoint" -l context -d 'Context to use instead of the client config\'s current one' -r
complete -c weftctl -n "__fish_weftctl_using_subcommand config; and __fish_seen_subcommand_from endpoint" -l weftconfig -l talosconfig -d 'Client config file [default: $TALOSCONFIG, else ~/.weft/config]' -r -F
complete -c weftctl -n "__fish_weftctl_using_subcommand config; and __fish_seen_subcommand_from endpoint" -l timeout -d 'Connection and request timeout' -r
complete -c weftctl -n "__fish_weftctl_using_subcommand config; and __fish_seen_subcommand_from endpoint" -s h -l help -d 'Print help'
complete -c weftctl -n "__fish_weftctl_using_subcommand config; and __fish_seen_subcommand_from endpoint" -s V -l version -d 'Print version'
complete -c weftctl -n "__fish_weftctl_using_subcommand config; and __fish_seen_subcommand_from endpoints" -s n -l nodes -d 'Target nodes, comma-separated (host or host:port, default port 50000), dialed directly; for `cluster create`, one number: the total number of nodes' -r
complete -c weftctl -n "__fish_weftctl_using_subcommand config; and __fish_seen_subcommand_from endpoints" -s e -l endpoints -d 'Endpoints to use when no nodes are given, comma-separated (weftctl has no API proxy: with nodes, they are ignored)' -r
complete -c weftctl -n "__fish_weftctl_using_subcommand config; and __fish_seen_subcommand_from endpoints" -l context -d 'Context to use instead of the client config\'s current one' -r
complete -c weftctl -n "__fish_weftctl_using_subcommand config; and __fish_seen_subcommand_from endpoints" -l weftconfig -l talosconfig -d 'Client config file [default: $TALOSCONFIG, else ~/.weft/config]' -r -F
complete -c weftctl -n "__fish_weftctl_using_subcommand config; and __fish_seen_subcommand_from endpoints" -l timeout -d 'Connection and request timeout' -r
complete -c weftctl -n "__fish_weftctl_using_subcommand config; and __fish_seen_subcommand_from endpoints" -s h -l help -d 'Print help'
complete -c weftctl -n "__fish_weftctl_using_subcommand config; and __fish_seen_subcommand_from endpoints" -s V -l version -d 'Print version'
complete -c weftctl -n "__fish_weftctl_using_subcommand config; and __fish_seen_subcommand_from node" -s n -l nodes -d 'Target nodes, comma-separated (host or host:port, default port 50000), dialed directly; for `cluster create`, one number: the total number of nodes' -r
complete -c weftctl -n "__fish_weftctl_using_subcommand config; and __fish_seen_subcommand_from node" -s e -l endpoints -d 'Endpoints to use when no nodes are given, comma-separated (weftctl has no API proxy: with nodes, they are ignored)' -r
complete -c weftctl -n "__fish_weftctl_using_subcommand config; and __fish_seen_subcommand_from node" -l context -d 'Context to use instead of the client config\'s current one' -r
complete -c weftctl -n "__fish_weftctl_using_subcommand config; and __fish_seen_subcommand_from node" -l weftconfig -l talosconfig -d 'Client config file [default: $TALOSCONFIG, else ~/.weft/config]' -r -F
complete -c weftctl -n "__fish_weftctl_using_subcommand config; and __fish_seen_subcommand_from node" -l timeout -d 'Connection and request timeout' -r
complete -c weftctl -n "__fish_weftctl_using_subcommand config; and __fish_seen_subcommand_from node" -s h -l help -d 'Print help'
complete -c weftctl -n "__fish_weftctl_using_subcommand config; and __fish_seen_subcommand_from node" -s V -l version -d 'Print version'
complete -c weftctl -n "__fish_weftctl_using_subcommand config; and __fish_seen_subcommand_from nodes" -s n -l nodes -d 'Target nodes, comma-separated (host or host:port, default port 50000), dialed directly; for `cluster create`, one number: the total number of nodes' -r
complete -c weftctl -n "__fish_weftctl_using_subcommand config; and __fish_seen_subcommand_from nodes" -s e -l endpoints -d 'Endpoints to use when no nodes are given, comma-separated (weftctl has no API proxy: with nodes, they are ignored)' -r
complete -c weftctl -n "__fish_weftctl_using_subcommand config; and __fish_seen_subcommand_from nodes" -l context -d 'Context to use instead of the client config\'s current one' -r
complete -c weftctl -n "__fish_weftctl_using_subcommand config; and __fish_seen_subcommand_from nodes" -l weftconfig -l talosconfig -d 'Client config file [default: $TALOSCONFIG, else ~/.weft/config]' -r -F
complete -c weftctl -n "__fish_weftctl_using_subcommand config; and __fish_seen_subcommand_from nodes" -l timeout -d 'Connection and request timeout' -r
complete -c weftctl -n "__fish_weftctl_using_subcommand config; and __fish_seen_subcommand_from nodes" -s h -l help -d 'Print help'
complete -c weftctl -n "__fish_weftctl_using_subcommand config; and __fish_seen_subcommand_from nodes" -s V -l version -d 'Print version'
complete -c weftctl -n "__fish_weftctl_using_subcommand config; and __fish_seen_subcommand_from add" -l ca -d 'The CA certificate file (PEM)' -r -F
complete -c weftctl -n "__fish_weftctl_using_subcommand config; and __fish_seen_subcommand_from add" -l crt -d 'The client certificate file (PEM)' -r -F
complete -c weftctl -n "__fish_weftctl_using_subcommand config; and __fish_seen_subcommand_from add" -l key -d 'The client key file (PEM)' -r -F
complete -c weftctl -n "__fish_weftctl_using_subcommand config; and __fish_seen_subcommand_from add" -s n -l nodes -d 'Target nodes, comma-separated (host or host:port, default port 50000), dialed directly; for `cluster create`, one number: the total number of nodes' -r
complete -c weftctl -n "__fish_weftctl_using_subcommand config; and __fish_seen_subcommand_from add" -s e -l endpoints -d 'Endpoints to use when no nodes are given, comma-separated (weftctl has no API proxy: with nodes, they are ignored)' -r
complete -c weftctl -n "__fish_weftctl_using_subcommand config; and __fish_seen_subcommand_from add" -l context -d 'Context to use instead of the client config\'s current one' -r
complete -c weftctl -n "__fish_weftctl_using_subcommand config; and __fish_seen_subcommand_from add" -l weftconfig -l talosconfig -d 'Client config file [default: $TALOSCONFIG, else ~/.weft/config]' -r -F
complete -c weftctl -n "__fish_weftctl_using_subcommand config; and __fish_seen_subcommand_from add" -l timeout -d 'Connection and request timeout' -r
complete -c weftctl -n "__fish_weftctl_using_subcommand config; and __fish_seen_subcommand_from add" -s h -l help -d 'Print help'
complete -c weftctl -n "__fish_weftctl_using_subcommand config; and __fish_seen_subcommand_from add" -s V -l version -d 'Print version'
complete -c weftctl -n "__fish_weftctl_using_subcommand config; and __fish_seen_subcommand_from help" -f -a "new" -d 'Issue a client certificate on a node and write a client config around it (needs os:admin)'
complete -c weftctl -n "__fish_weftctl_using_subcommand config; and __fish_seen_subcommand_from help" -f -a "contexts" -d 'List the contexts of the client config'
complete -c weftctl -n "__fish_weftctl_using_subcommand config; and __fish_seen_subcommand_from help" -f -a "use-context" -d 'Make a context the current one'
complete -c weftctl -n "__fish_weftctl_using_subcommand config; and __fish_seen_subcommand_from help" -f -a "merge" -d 'Merge a client config (e.g. from gen config) into the default one'
complete -c weftctl -n "__fish_weftctl_using_subcommand config; and __fish_seen_subcommand_from help" -f -a "remove" -d 'Remove contexts from the client config'
complete -c weftctl -n "__fish_weftctl_using_subcommand config; and __fish_seen_subcommand_from help" -f -a "info" -d 'Show the current context: nodes, endpoints, roles, certificate expiry'
complete -c weftctl -n "__fish_weftctl_using_subcommand config; and __fish_seen_subcommand_from help" -f -a "endpoint" -d 'Set the current context\'s endpoints'
complete -c weftctl -n "__fish_weftctl_using_subcommand config; and __fish_seen_subcommand_from help" -f -a "node" -d 'Set the current context\'s nodes'
complete -c weftctl -n "__fish_weftctl_using_subcommand config; and __fish_seen_subcommand_from help" -f -a "add" -d 'Add a context from CA, client certificate and key files (PEM)'
complete -c weftctl -n "__fish_weftctl_using_subcommand config; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c weftctl -n "__fish_weftctl_using_subcommand cluster; and not __fish_seen_subcommand_from create destroy chaos help" -s n -l nodes -d 'Target nodes, comma-separated (host or host:port, default port 50000), dialed directly; for `cluster create`, one number: the total number of nodes' -r
complete -c weftctl -n "__fish_weftctl_using_subcommand cluster; and not __fish_seen_subcommand_from create destroy chaos help" -s e -l endpoints -d 'Endpoints to use when no nodes are given, comma-separated (weftctl has no API proxy: with nodes, they are ignored)' -r
complete -c weftctl -n "__fish_weftctl_using_subcommand cluster; and not __fish_seen_subcommand_from create destroy chaos help" -l context -d 'Context to use instead of the client config\'s current one' -r
complete -c weftctl -n "__fish_weftctl_using_subcommand cluster; and not __fish_seen_subcommand_from create destroy chaos help" -l weftconfig -l talosconfig -d 'Client config file [default: $TALOSCONFIG, else ~/.weft/config]' -r -F
complete -c weftctl -n "__fish_weftctl_using_subcommand cluster; and not __fish_seen_subcommand_from create destroy chaos help" -l timeout -d 'Connection and request timeout' -r
complete -c weftctl -n "__fish_weftctl_using_subcommand cluster; and not __fish_seen_subcommand_from create destroy chaos help" -s h -l help -d 'Print help'
complete -c weftctl -n "__fish_weftctl_using_subcommand cluster; and not __fish_seen_subcommand_from create destroy chaos help" -s V -l version -d 'Print version'
complete -c weftctl -n "__fish_weftctl_using_subcommand cluster; and not __fish_seen_subcommand_from create destroy chaos help" -f -a "create" -d 'Build a local mesh: a network namespace per node on a bridge, a discovery service, weftd on every node; wait until it is healthy (as `weftctl health`); print the peer statuses'
complete -c weftctl -n "__fish_weftctl_using_subcommand cluster; and not __fish_seen_subcommand_from create destroy chaos help" -f -a "destroy" -d 'Remove a local mesh: processes, namespaces, links and files (also after a crash)'
complete -c weftctl -n "__fish_weftctl_using_subcommand cluster; and not __fish_seen_subcommand_from create destroy chaos help" -f -a "chaos" -d 'Change the network impairments of a running local mesh: loss, bandwidth, partitions'
complete -c weftctl -n "__fish_weftctl_using_subcommand cluster; and not __fish_seen_subcommand_from create destroy chaos help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c weftctl -n "__fish_weftctl_using_subcommand cluster; and __fish_seen_subcommand_from create" -l name -d 'Cluster name (also the client context\'s name)' -r
complete -c weftctl -n "__fish_weftctl_using_subcommand cluster; and __fish_seen_subcommand_from create" -l workers -d 'Number of worker nodes besides the control-plane node (as talosctl\'s `--workers`; -n overrides it)' -r
complete -c weftctl -n "__fish_weftctl_using_subcommand cluster; and __fish_seen_subcommand_from create" -l discovery -d 'Discovery service: `embedded` (a weft-discovery started for the cluster) or a URL' -r
complete -c weftctl -n "__fish_weftctl_using_subcommand cluster; and __fish_seen_subcommand_from create" -l cidr -d 'IPv4 network for the nodes; the host side takes the first address' -r
complete -c weftctl -n "__fish_weftctl_using_subcommand cluster; and __fish_seen_subcommand_from create" -l state -d 'Where cluster state lives [default: ~/.weft/clusters]' -r -F
complete -c weftctl -n "__fish_weftctl_using_subcommand cluster; and __fish_seen_subcommand_from create" -l wait-timeout -d 'How long to wait for the mesh to be healthy (the checks of `weftctl health`)' -r
complete -c weftctl -n "__fish_weftctl_using_subcommand cluster; and __fish_seen_subcommand_from create" -l with-network-packet-loss -d 'Random packet loss on every node\'s link, each direction, as a fraction: 0.2 = 20 %' -r
complete -c weftctl -n "__fish_weftctl_using_subcommand cluster; and __fish_seen_subcommand_from create" -l with-network-bandwidth -d 'Bandwidth limit of every node\'s link, each direction, in kbit/s' -r
complete -c weftctl -n "__fish_weftctl_using_subcommand cluster; and __fish_seen_subcommand_from create" -l with-network-latency -d 'Latency on every node\'s link (needs the kernel\'s netem, sch_netem)' -r
complete -c weftctl -n "__fish_weftctl_using_subcommand cluster; and __fish_seen_subcommand_from create" -l with-network-jitter -d 'Jitter of that latency (needs sch_netem)' -r
complete -c weftctl -n "__fish_weftctl_using_subcommand cluster; and __fish_seen_subcommand_from create" -l with-network-packet-reorder -d 'Reordered packets, as a fraction (needs sch_netem and a latency)' -r
complete -c weftctl -n "__fish_weftctl_using_subcommand cluster; and __fish_seen_subcommand_from create" -l with-network-packet-corrupt -d 'Corrupted packets, as a fraction (needs sch_netem)' -r
complete -c weftctl -n "__fish_weftctl_using_subcommand cluster; and __fish_seen_subcommand_from create" -s n -l nodes -d 'Target nodes, comma-separated (host or host:port, default port 50000), dialed directly; for `cluster create`, one number: the total number of nodes' -r
complete -c weftctl -n "__fish_weftctl_using_subcommand cluster; and __fish_seen_subcommand_from create" -s e -l endpoints -d 'Endpoints to use when no nodes are given, comma-separated (weftctl has no API proxy: with nodes, they are ignored)' -r
complete -c weftctl -n "__fish_weftctl_using_subcommand cluster; and __fish_seen_subcommand_from create" -l context -d 'Context to use instead of the client config\'s current one' -r
complete -c weftctl -n "__fish_weftctl_using_subcommand cluster; and __fish_seen_subcommand_from create" -l weftconfig -l talosconfig -d 'Client config file [default: $TALOSCONFIG, else ~/.weft/config]' -r -F
complete -c weftctl -n "__fish_weftctl_using_subcommand cluster; and __fish_seen_subcommand_from create" -l timeout -d 'Connection and request timeout' -r
complete -c weftctl -n "__fish_weftctl_using_subcommand cluster; and __fish_seen_subcommand_from create" -l with-network-chaos -d 'Enable the network chaos flags (as in talosctl, they are refused without it)'
complete -c weftctl -n "__fish_weftctl_using_subcommand cluster; and __fish_seen_subcommand_from create" -s h -l help -d 'Print help'
complete -c weftctl -n "__fish_weftctl_using_subcommand cluster; and __fish_seen_subcommand_from create" -s V -l version -d 'Print version'
complete -c weftctl -n "__fish_weftctl_using_subcommand cluster; and __fish_seen_subcommand_from destroy" -l name -d 'Cluster name' -r
complete -c weftctl -n "__fish_weftctl_using_subcommand cluster; and __fish_seen_subcommand_from destroy" -l state -d 'Where cluster state lives [default: ~/.weft/clusters]' -r -F
complete -c weftctl -n "__fish_weftctl_using_subcommand cluster; and __fish_seen_subcommand_from destroy" -s n -l nodes -d 'Target nodes, comma-separated (host or host:port, default port 50000), dialed directly; for `cluster create`, one number: the total number of nodes' -r
complete -c weftctl -n "__fish_weftctl_using_subcommand cluster; and __fish_seen_subcommand_from destroy" -s e -l endpoints -d 'Endpoints to use when no nodes are given, comma-separated (weftctl has no API proxy: with nodes, they are ignored)' -r
complete -c weftctl -n "__fish_weftctl_using_subcommand cluster; and __fish_seen_subcommand_from destroy" -l context -d 'Context to use instead of the client config\'s current one' -r
complete -c weftctl -n "__fish_weftctl_using_subcommand cluster; and __fish_seen_subcommand_from destroy" -l weftconfig -l talosconfig -d 'Client config file [default: $TALOSCONFIG, else ~/.weft/config]' -r -F
complete -c weftctl -n "__fish_weftctl_using_subcommand cluster; and __fish_seen_subcommand_from destroy" -l timeout -d 'Connection and request timeout' -r
complete -c weftctl -n "__fish_weftctl_using_subcommand cluster; and __fish_seen_subcommand_from destroy" -s h -l help -d 'Print help'
complete -c weftctl -n "__fish_weftctl_using_subcommand cluster; and __fish_seen_subcommand_from destroy" -s V -l version -d 'Print version'
complete -c weftctl -n "__fish_weftctl_using_subcommand cluster; and __fish_seen_subcommand_from chaos" -l name -d 'Cluster name' -r
complete -c weftctl -n "__fish_weftctl_using_subcommand cluster; and __fish_seen_subcommand_from chaos" -l state -d 'Where cluster state lives [default: ~/.weft/clusters]' -r -F
complete -c weftctl -n "__fish_weftctl_using_subcommand cluster; and __fish_seen_subcommand_from chaos" -l node -d 'The node --loss, --bandwidth and --clear apply to, by index (i of weft-<name>-<i>) [default: every node]' -r
complete -c weftctl -n "__fish_weftctl_using_subcommand cluster; and __fish_seen_subcommand_from chaos" -l loss -d 'Random loss on the node\'s link, each direction, in percent (0 removes it)' -r
complete -c weftctl -n "__fish_weftctl_using_subcommand cluster; and __fish_seen_subcommand_from chaos" -l bandwidth -d 'Bandwidth limit of the node\'s link, each direction, in kbit/s (0 removes it)' -r
complete -c weftctl -n "__fish_weftctl_using_subcommand cluster; and __fish_seen_subcommand_from chaos" -l partition -d 'Drop everything between nodes I and J, both directions; both still reach the others and the host (repeatable)' -r
complete -c weftctl -n "__fish_weftctl_using_subcommand cluster; and __fish_seen_subcommand_from chaos" -l heal -d 'Undo --partition I,J (repeatable)' -r
complete -c weftctl -n "__fish_weftctl_using_subcommand cluster; and __fish_seen_subcommand_from chaos" -s n -l nodes -d 'Target nodes, comma-separated (host or host:port, default port 50000), dialed directly; for `cluster create`, one number: the total number of nodes' -r
complete -c weftctl -n "__fish_weftctl_using_subcommand cluster; and __fish_seen_subcommand_from chaos" -s e -l endpoints -d 'Endpoints to use when no nodes are given, comma-separated (weftctl has no API proxy: with nodes, they are ignored)' -r
complete -c weftctl -n "__fish_weftctl_using_subcommand cluster; and __fish_seen_subcommand_from chaos" -l context -d 'Context to use instead of the client config\'s current one' -r
complete -c weftctl -n "__fish_weftctl_using_subcommand cluster; and __fish_seen_subcommand_from chaos" -l weftconfig -l talosconfig -d 'Client config file [default: $TALOSCONFIG, else ~/.weft/config]' -r -F
complete -c weftctl -n "__fish_weftctl_using_subcommand cluster; and __fish_seen_subcommand_from chaos" -l timeout -d 'Connection and request timeout' -r
complete -c weftctl -n "__fish_weftctl_using_subcommand cluster; and __fish_seen_subcommand_from chaos" -l clear -d 'Remove every impairment of --node, its partitions included, or of every node'
complete -c weftctl -n "__fish_weftctl_using_subcommand cluster; and __fish_seen_subcommand_from chaos" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c weftctl -n "__fish_weftctl_using_subcommand cluster; and __fish_seen_subcommand_from chaos" -s V -l version -d 'Print version'
complete -c weftctl -n "__fish_weftctl_using_subcommand cluster; and __fish_seen_subcommand_from help" -f -a "create" -d 'Build a local mesh: a network namespace per node on a bridge, a discovery service, weftd on every node; wait until it is healthy (as `weftctl health`); print the peer statuses'
complete -c weftctl -n "__fish_weftctl_using_subcommand cluster; and __fish_seen_subcommand_from help" -f -a "destroy" -d 'Remove a local mesh: processes, namespaces, links and files (also after a crash)'
complete -c weftctl -n "__fish_weftctl_using_subcommand cluster; and __fish_seen_subcommand_from help" -f -a "chaos" -d 'Change the network impairments of a running local mesh: loss, bandwidth, partitions'
complete -c weftctl -n "__fish_weftctl_using_subcommand cluster; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c weftctl -n "__fish_weftctl_using_subcommand health" -s o -l output -d 'Output format' -r -f -a "table\t'Aligned lines for people (the matrix as a bordered grid)'
json\t'One JSON object for scripts; its fields are only ever added to, never renamed'"
complete -c weftctl -n "__fish_weftctl_using_subcommand health" -l wait-timeout -d 'Re-check until healthy or this long has passed [default: check once]' -r
complete -c weftctl -n "__fish_weftctl_using_subcommand health" -s n -l nodes -d 'Target nodes, comma-separated (host or host:port, default port 50000), dialed directly; for `cluster create`, one number: the total number of nodes' -r
complete -c weftctl -n "__fish_weftctl_using_subcommand health" -s e -l endpoints -d 'Endpoints to use when no nodes are given, comma-separated (weftctl has no API proxy: with nodes, they are ignored)' -r
complete -c weftctl -n "__fish_weftctl_using_subcommand health" -l context -d 'Context to use instead of the client config\'s current one' -r
complete -c weftctl -n "__fish_weftctl_using_subcommand health" -l weftconfig -l talosconfig -d 'Client config file [default: $TALOSCONFIG, else ~/.weft/config]' -r -F
complete -c weftctl -n "__fish_weftctl_using_subcommand health" -l timeout -d 'Connection and request timeout' -r
complete -c weftctl -n "__fish_weftctl_using_subcommand health" -l matrix -d 'Print the node × node grid of peer states instead of the checks'
complete -c weftctl -n "__fish_weftctl_using_subcommand health" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c weftctl -n "__fish_weftctl_using_subcommand health" -s V -l version -d 'Print version'
complete -c weftctl -n "__fish_weftctl_using_subcommand leave" -s n -l nodes -d 'Target nodes, comma-separated (host or host:port, default port 50000), dialed directly; for `cluster create`, one number: the total number of nodes' -r
complete -c weftctl -n "__fish_weftctl_using_subcommand leave" -s e -l endpoints -d 'Endpoints to use when no nodes are given, comma-separated (weftctl has no API proxy: with nodes, they are ignored)' -r
complete -c weftctl -n "__fish_weftctl_using_subcommand leave" -l context -d 'Context to use instead of the client config\'s current one' -r
complete -c weftctl -n "__fish_weftctl_using_subcommand leave" -l weftconfig -l talosconfig -d 'Client config file [default: $TALOSCONFIG, else ~/.weft/config]' -r -F
complete -c weftctl -n "__fish_weftctl_using_subcommand leave" -l timeout -d 'Connection and request timeout' -r
complete -c weftctl -n "__fish_weftctl_using_subcommand leave" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c weftctl -n "__fish_weftctl_using_subcommand leave" -s V -l version -d 'Print version'
complete -c weftctl -n "__fish_weftctl_using_subcommand external-peer; and not __fish_seen_subcommand_from add remove help" -s n -l nodes -d 'Target nodes, comma-separated (host or host:port, default port 50000), dialed directly; for `cluster create`, one number: the total number of nodes' -r
complete -c weftctl -n "__fish_weftctl_using_subcommand external-peer; and not __fish_seen_subcommand_from add remove help" -s e -l endpoints -d 'Endpoints to use when no nodes are given, comma-separated (weftctl has no API proxy: with nodes, they are ignored)' -r
complete -c weftctl -n "__fish_weftctl_using_subcommand external-peer; and not __fish_seen_subcommand_from add remove help" -l context -d 'Context to use instead of the client config\'s current one' -r
complete -c weftctl -n "__fish_weftctl_using_subcommand external-peer; and not __fish_seen_subcommand_from add remove help" -l weftconfig -l talosconfig -d 'Client config file [default: $TALOSCONFIG, else ~/.weft/config]' -r -F
complete -c weftctl -n "__fish_weftctl_using_subcommand external-peer; and not __fish_seen_subcommand_from add remove help" -l timeout -d 'Connection and request timeout' -r
complete -c weftctl -n "__fish_weftctl_using_subcommand external-peer; and not __fish_seen_subcommand_from add remove help" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c weftctl -n "__fish_weftctl_using_subcommand external-peer; and not __fish_seen_subcommand_from add remove help" -s V -l version -d 'Print version'
complete -c weftctl -n "__fish_weftctl_using_subcommand external-peer; and not __fish_seen_subcommand_from add remove help" -f -a "add" -d 'Publish a WireGuard device as a member (adding an existing name replaces it)'
complete -c weftctl -n "__fish_weftctl_using_subcommand external-peer; and not __fish_seen_subcommand_from add remove help" -f -a "remove" -d 'Stop publishing an external peer; every node drops it'
complete -c weftctl -n "__fish_weftctl_using_subcommand external-peer; and not __fish_seen_subcommand_from add remove help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c weftctl -n "__fish_weftctl_using_subcommand external-peer; and __fish_seen_subcommand_from add" -l public-key -d 'Its WireGuard public key (as `wg pubkey` prints it)' -r
complete -c weftctl -n "__fish_weftctl_using_subcommand external-peer; and __fish_seen_subcommand_from add" -l endpoint -d 'Where it listens; without one it must call the nodes first' -r
complete -c weftctl -n "__fish_weftctl_using_subcommand external-peer; and __fish_seen_subcommand_from add" -l address -d 'Address or network routed to it, its tunnel address included (repeatable or comma-separated); a single address in the KubeSpan subnet becomes its KubeSpan address' -r
complete -c weftctl -n "__fish_weftctl_using_subcommand external-peer; and __fish_seen_subcommand_from add" -s n -l nodes -d 'Target nodes, comma-separated (host or host:port, default port 50000), dialed directly; for `cluster create`, one number: the total number of nodes' -r
complete -c weftctl -n "__fish_weftctl_using_subcommand external-peer; and __fish_seen_subcommand_from add" -s e -l endpoints -d 'Endpoints to use when no nodes are given, comma-separated (weftctl has no API proxy: with nodes, they are ignored)' -r
complete -c weftctl -n "__fish_weftctl_using_subcommand external-peer; and __fish_seen_subcommand_from add" -l context -d 'Context to use instead of the client config\'s current one' -r
complete -c weftctl -n "__fish_weftctl_using_subcommand external-peer; and __fish_seen_subcommand_from add" -l weftconfig -l talosconfig -d 'Client config file [default: $TALOSCONFIG, else ~/.weft/config]' -r -F
complete -c weftctl -n "__fish_weftctl_using_subcommand external-peer; and __fish_seen_subcommand_from add" -l timeout -d 'Connection and request timeout' -r
complete -c weftctl -n "__fish_weftctl_using_subcommand external-peer; and __fish_seen_subcommand_from add" -s h -l help -d 'Print help'
complete -c weftctl -n "__fish_weftctl_using_subcommand external-peer; and __fish_seen_subcommand_from add" -s V -l version -d 'Print version'
complete -c weftctl -n "__fish_weftctl_using_subcommand external-peer; and __fish_seen_subcommand_from remove" -s n -l nodes -d 'Target nodes, comma-separated (host or host:port, default port 50000), dialed directly; for `cluster create`, one number: the total number of nodes' -r
complete -c weftctl -n "__fish_weftctl_using_subcommand external-peer; and __fish_seen_subcommand_from remove" -s e -l endpoints -d 'Endpoints to use when no nodes are given, comma-separated (weftctl has no API proxy: with nodes, they are ignored)' -r
complete -c weftctl -n "__fish_weftctl_using_subcommand external-peer; and __fish_seen_subcommand_from remove" -l context -d 'Context to use instead of the client config\'s current one' -r
complete -c weftctl -n "__fish_weftctl_using_subcommand external-peer; and __fish_seen_subcommand_from remove" -l weftconfig -l talosconfig -d 'Client config file [default: $TALOSCONFIG, else ~/.weft/config]' -r -F
complete -c weftctl -n "__fish_weftctl_using_subcommand external-peer; and __fish_seen_subcommand_from remove" -l timeout -d 'Connection and request timeout' -r
complete -c weftctl -n "__fish_weftctl_using_subcommand external-peer; and __fish_seen_subcommand_from remove" -s h -l help -d 'Print help'
complete -c weftctl -n "__fish_weftctl_using_subcommand external-peer; and __fish_seen_subcommand_from remove" -s V -l version -d 'Print version'
complete -c weftctl -n "__fish_weftctl_using_subcommand external-peer; and __fish_seen_subcommand_from help" -f -a "add" -d 'Publish a WireGuard device as a member (adding an existing name replaces it)'
complete -c weftctl -n "__fish_weftctl_using_subcommand external-peer; and __fish_seen_subcommand_from help" -f -a "remove" -d 'Stop publishing an external peer; every node drops it'
complete -c weftctl -n "__fish_weftctl_using_subcommand external-peer; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c weftctl -n "__fish_weftctl_using_subcommand help; and not __fish_seen_subcommand_from gen validate version completion get apply-config config cluster health leave external-peer help" -f -a "gen" -d 'Generate secrets and configuration files'
complete -c weftctl -n "__fish_weftctl_using_subcommand help; and not __fish_seen_subcommand_from gen validate version completion get apply-config config cluster health leave external-peer help" -f -a "validate" -d 'Validate a machine config'
complete -c weftctl -n "__fish_weftctl_using_subcommand help; and not __fish_seen_subcommand_from gen validate version completion get apply-config config cluster health leave external-peer help" -f -a "version" -d 'Print the version'
complete -c weftctl -n "__fish_weftctl_using_subcommand help; and not __fish_seen_subcommand_from gen validate version completion get apply-config config cluster health leave external-peer help" -f -a "completion" -d 'Output shell completion code for the given shell'
complete -c weftctl -n "__fish_weftctl_using_subcommand help; and not __fish_seen_subcommand_from gen validate version completion get apply-config config cluster health leave external-peer help" -f -a "get" -d 'Get a specific resource or list of resources'
complete -c weftctl -n "__fish_weftctl_using_subcommand help; and not __fish_seen_subcommand_from gen validate version completion get apply-config config cluster health leave external-peer help" -f -a "apply-config" -d 'Apply a new machine config to nodes, immediately (no restart)'
complete -c weftctl -n "__fish_weftctl_using_subcommand help; and not __fish_seen_subcommand_from gen validate version completion get apply-config config cluster health leave external-peer help" -f -a "config" -d 'Manage the client config (contexts, credentials)'
complete -c weftctl -n "__fish_weftctl_using_subcommand help; and not __fish_seen_subcommand_from gen validate version completion get apply-config config cluster health leave external-peer help" -f -a "cluster" -d 'Create or destroy a local mesh of nodes in network namespaces (needs root)'
complete -c weftctl -n "__fish_weftctl_using_subcommand help; and not __fish_seen_subcommand_from gen validate version completion get apply-config config cluster health leave external-peer help" -f -a "health" -d 'Check that every node is healthy: API, KubeSpan identity, discovery, every peer up'
complete -c weftctl -n "__fish_weftctl_using_subcommand help; and not __fish_seen_subcommand_from gen validate version completion get apply-config config cluster health leave external-peer help" -f -a "leave" -d 'Withdraw nodes from the cluster\'s discovery services (needs os:admin)'
complete -c weftctl -n "__fish_weftctl_using_subcommand help; and not __fish_seen_subcommand_from gen validate version completion get apply-config config cluster health leave external-peer help" -f -a "external-peer" -d 'Publish WireGuard devices that run no weftd as cluster members (needs os:admin)'
complete -c weftctl -n "__fish_weftctl_using_subcommand help; and not __fish_seen_subcommand_from gen validate version completion get apply-config config cluster health leave external-peer help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c weftctl -n "__fish_weftctl_using_subcommand help; and __fish_seen_subcommand_from gen" -f -a "secrets" -d 'Generate a secrets bundle: cluster id and secret, and the node API CA'
complete -c weftctl -n "__fish_weftctl_using_subcommand help; and __fish_seen_subcommand_from gen" -f -a "config" -d 'Generate machine configs and a client config for a new cluster'
complete -c weftctl -n "__fish_weftctl_using_subcommand help; and __fish_seen_subcommand_from config" -f -a "new" -d 'Issue a client certificate on a node and write a client config around it (needs os:admin)'
complete -c weftctl -n "__fish_weftctl_using_subcommand help; and __fish_seen_subcommand_from config" -f -a "contexts" -d 'List the contexts of the client config'
complete -c weftctl -n "__fish_weftctl_using_subcommand help; and __fish_seen_subcommand_from config" -f -a "use-context" -d 'Make a context the current one'
complete -c weftctl -n "__fish_weftctl_using_subcommand help; and __fish_seen_subcommand_from config" -f -a "merge" -d 'Merge a client config (e.g. from gen config) into the default one'
complete -c weftctl -n "__fish_weftctl_using_subcommand help; and __fish_seen_subcommand_from config" -f -a "remove" -d 'Remove contexts from the client config'
complete -c weftctl -n "__fish_weftctl_using_subcommand help; and __fish_seen_subcommand_from config" -f -a "info" -d 'Show the current context: nodes, endpoints, roles, certificate expiry'
complete -c weftctl -n "__fish_weftctl_using_subcommand help; and __fish_seen_subcommand_from config" -f -a "endpoint" -d 'Set the current context\'s endpoints'
complete -c weftctl -n "__fish_weftctl_using_subcommand help; and __fish_seen_subcommand_from config" -f -a "node" -d 'Set the current context\'s nodes'
complete -c weftctl -n "__fish_weftctl_using_subcommand help; and __fish_seen_subcommand_from config" -f -a "add" -d 'Add a context from CA, client certificate and key files (PEM)'
complete -c weftctl -n "__fish_weftctl_using_subcommand help; and __fish_seen_subcommand_from cluster" -f -a "create" -d 'Build a local mesh: a network namespace per node on a bridge, a discovery service, weftd on every node; wait until it is healthy (as `weftctl health`); print the peer statuses'
complete -c weftctl -n "__fish_weftctl_using_subcommand help; and __fish_seen_subcommand_from cluster" -f -a "destroy" -d 'Remove a local mesh: processes, namespaces, links and files (also after a crash)'
complete -c weftctl -n "__fish_weftctl_using_subcommand help; and __fish_seen_subcommand_from cluster" -f -a "chaos" -d 'Change the network impairments of a running local mesh: loss, bandwidth, partitions'
complete -c weftctl -n "__fish_weftctl_using_subcommand help; and __fish_seen_subcommand_from external-peer" -f -a "add" -d 'Publish a WireGuard device as a member (adding an existing name replaces it)'
complete -c weftctl -n "__fish_weftctl_using_subcommand help; and __fish_seen_subcommand_from external-peer" -f -a "remove" -d 'Stop publishing an external peer; every node drops it'
