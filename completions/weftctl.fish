# Print an optspec for argparse to handle cmd's options that are independent of any subcommand.
function __fish_weftctl_global_optspecs
    string join \n h/help V/version
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

complete -c weftctl -n "__fish_weftctl_needs_command" -s h -l help -d 'Print help'
complete -c weftctl -n "__fish_weftctl_needs_command" -s V -l version -d 'Print version'
complete -c weftctl -n "__fish_weftctl_needs_command" -f -a "gen" -d 'Generate secrets and configuration files'
complete -c weftctl -n "__fish_weftctl_needs_command" -f -a "validate" -d 'Validate a machine config'
complete -c weftctl -n "__fish_weftctl_needs_command" -f -a "version" -d 'Print the version'
complete -c weftctl -n "__fish_weftctl_needs_command" -f -a "completion" -d 'Output shell completion code for the given shell'
complete -c weftctl -n "__fish_weftctl_needs_command" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c weftctl -n "__fish_weftctl_using_subcommand gen; and not __fish_seen_subcommand_from secrets config help" -s f -l force -d 'Overwrite existing files'
complete -c weftctl -n "__fish_weftctl_using_subcommand gen; and not __fish_seen_subcommand_from secrets config help" -s h -l help -d 'Print help'
complete -c weftctl -n "__fish_weftctl_using_subcommand gen; and not __fish_seen_subcommand_from secrets config help" -s V -l version -d 'Print version'
complete -c weftctl -n "__fish_weftctl_using_subcommand gen; and not __fish_seen_subcommand_from secrets config help" -f -a "secrets" -d 'Generate a secrets bundle: cluster id and secret, and the node API CA'
complete -c weftctl -n "__fish_weftctl_using_subcommand gen; and not __fish_seen_subcommand_from secrets config help" -f -a "config" -d 'Generate machine configs and a client config for a new cluster'
complete -c weftctl -n "__fish_weftctl_using_subcommand gen; and not __fish_seen_subcommand_from secrets config help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c weftctl -n "__fish_weftctl_using_subcommand gen; and __fish_seen_subcommand_from secrets" -s o -l output-file -d 'Path of the secrets bundle to write' -r -F
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
complete -c weftctl -n "__fish_weftctl_using_subcommand gen; and __fish_seen_subcommand_from config" -l with-kubespan -d 'Enable KubeSpan (and cluster discovery)'
complete -c weftctl -n "__fish_weftctl_using_subcommand gen; and __fish_seen_subcommand_from config" -s f -l force -d 'Overwrite existing files'
complete -c weftctl -n "__fish_weftctl_using_subcommand gen; and __fish_seen_subcommand_from config" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c weftctl -n "__fish_weftctl_using_subcommand gen; and __fish_seen_subcommand_from config" -s V -l version -d 'Print version'
complete -c weftctl -n "__fish_weftctl_using_subcommand gen; and __fish_seen_subcommand_from help" -f -a "secrets" -d 'Generate a secrets bundle: cluster id and secret, and the node API CA'
complete -c weftctl -n "__fish_weftctl_using_subcommand gen; and __fish_seen_subcommand_from help" -f -a "config" -d 'Generate machine configs and a client config for a new cluster'
complete -c weftctl -n "__fish_weftctl_using_subcommand gen; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c weftctl -n "__fish_weftctl_using_subcommand validate" -s c -l config -d 'Path of the machine config to validate' -r -F
complete -c weftctl -n "__fish_weftctl_using_subcommand validate" -s h -l help -d 'Print help'
complete -c weftctl -n "__fish_weftctl_using_subcommand validate" -s V -l version -d 'Print version'
complete -c weftctl -n "__fish_weftctl_using_subcommand version" -l short -d 'Print only the version number'
complete -c weftctl -n "__fish_weftctl_using_subcommand version" -s h -l help -d 'Print help'
complete -c weftctl -n "__fish_weftctl_using_subcommand version" -s V -l version -d 'Print version'
complete -c weftctl -n "__fish_weftctl_using_subcommand completion" -s h -l help -d 'Print help'
complete -c weftctl -n "__fish_weftctl_using_subcommand completion" -s V -l version -d 'Print version'
complete -c weftctl -n "__fish_weftctl_using_subcommand help; and not __fish_seen_subcommand_from gen validate version completion help" -f -a "gen" -d 'Generate secrets and configuration files'
complete -c weftctl -n "__fish_weftctl_using_subcommand help; and not __fish_seen_subcommand_from gen validate version completion help" -f -a "validate" -d 'Validate a machine config'
complete -c weftctl -n "__fish_weftctl_using_subcommand help; and not __fish_seen_subcommand_from gen validate version completion help" -f -a "version" -d 'Print the version'
complete -c weftctl -n "__fish_weftctl_using_subcommand help; and not __fish_seen_subcommand_from gen validate version completion help" -f -a "completion" -d 'Output shell completion code for the given shell'
complete -c weftctl -n "__fish_weftctl_using_subcommand help; and not __fish_seen_subcommand_from gen validate version completion help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c weftctl -n "__fish_weftctl_using_subcommand help; and __fish_seen_subcommand_from gen" -f -a "secrets" -d 'Generate a secrets bundle: cluster id and secret, and the node API CA'
complete -c weftctl -n "__fish_weftctl_using_subcommand help; and __fish_seen_subcommand_from gen" -f -a "config" -d 'Generate machine configs and a client config for a new cluster'
