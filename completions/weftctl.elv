
use builtin;
use str;

set edit:completion:arg-completer[weftctl] = {|@words|
    fn spaces {|n|
        builtin:repeat $n ' ' | str:join ''
    }
    fn cand {|text desc|
        edit:complex-candidate $text &display=$text' '(spaces (- 14 (wcswidth $text)))$desc
    }
    var command = 'weftctl'
    for word $words[1..-1] {
        if (str:has-prefix $word '-') {
            break
        }
        set command = $command';'$word
    }
    var completions = [
        &'weftctl'= {
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
            cand gen 'Generate secrets and configuration files'
            cand validate 'Validate a machine config'
            cand version 'Print the version'
            cand completion 'Output shell completion code for the given shell'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'weftctl;gen'= {
            cand -f 'Overwrite existing files'
            cand --force 'Overwrite existing files'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
            cand secrets 'Generate a secrets bundle: cluster id and secret, and the node API CA'
            cand config 'Generate machine configs and a client config for a new cluster'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'weftctl;gen;secrets'= {
            cand -o 'Path of the secrets bundle to write'
            cand --output-file 'Path of the secrets bundle to write'
            cand -f 'Overwrite existing files'
            cand --force 'Overwrite existing files'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'weftctl;gen;config'= {
            cand --with-cluster-discovery 'Enable cluster discovery'
            cand --with-secrets 'Use the secrets bundle at this path instead of generating new secrets'
            cand --discovery-endpoint 'Discovery service URL (repeatable); the first replaces the default https://discovery.talos.dev/, the others are added'
            cand -o 'Output: a directory, a file (with one output type), or - for stdout (with one output type)'
            cand --output 'Output: a directory, a file (with one output type), or - for stdout (with one output type)'
            cand -t 'Types of output to generate'
            cand --output-types 'Types of output to generate'
            cand --config-patch 'Patch applied to every machine config: @file or inline YAML (repeatable)'
            cand --config-patch-control-plane 'Patch applied to the controlplane config only (repeatable)'
            cand --config-patch-worker 'Patch applied to the worker config only (repeatable)'
            cand --with-kubespan 'Enable KubeSpan (and cluster discovery)'
            cand -f 'Overwrite existing files'
            cand --force 'Overwrite existing files'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'weftctl;gen;help'= {
            cand secrets 'Generate a secrets bundle: cluster id and secret, and the node API CA'
            cand config 'Generate machine configs and a client config for a new cluster'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'weftctl;gen;help;secrets'= {
        }
        &'weftctl;gen;help;config'= {
        }
        &'weftctl;gen;help;help'= {
        }
        &'weftctl;validate'= {
            cand -c 'Path of the machine config to validate'
            cand --config 'Path of the machine config to validate'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'weftctl;version'= {
            cand --short 'Print only the version number'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'weftctl;completion'= {
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'weftctl;help'= {
            cand gen 'Generate secrets and configuration files'
            cand validate 'Validate a machine config'
            cand version 'Print the version'
            cand completion 'Output shell completion code for the given shell'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'weftctl;help;gen'= {
            cand secrets 'Generate a secrets bundle: cluster id and secret, and the node API CA'
            cand config 'Generate machine configs and a client config for a new cluster'
        }
        &'weftctl;help;gen;secrets'= {
        }
        &'weftctl;help;gen;config'= {
        }
        &'weftctl;help;validate'= {
        }
        &'weftctl;help;version'= {
        }
        &'weftctl;help;completion'= {
        }
        &'weftctl;help;help'= {
        }
    ]
    $completions[$command]
}
