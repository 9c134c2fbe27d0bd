#!/usr/bin/perl
# tutorial.pl: an echo server and a client in one program.
use strict;
use warnings;
use WebSocket qw( :ws );
use WebSocket::Server;
use WebSocket::Client;

my $server = WebSocket::Server->new(
    host       => '127.0.0.1',
    port       => 0,    # any free port
    on_connect => sub {
        my ( $server, $conn ) = @_;
        $conn->on(
            utf8 => sub {
                my ( $conn, $text ) = @_;
                $conn->send_utf8($text);    # echo
            },
            disconnect => sub {
                my ( $conn, $code, $reason ) = @_;
                print "the client left with $code ($reason)\n";
                $conn->server->shutdown;    # ends $server->start
            },
        );
    },
);
$server->listen or die $server->error;

my $client = WebSocket::Client->new( 'ws://127.0.0.1:' . $server->port . '/',
    on_utf8 => sub {
        my ( $client, $text ) = @_;
        print "echoed: $text\n";
        $client->disconnect( WS_OK, 'done' );
    },
);
$client->connect or die $client->error;
$client->send_utf8('hello');
$server->start;    # runs both sides' callbacks until the shutdown
