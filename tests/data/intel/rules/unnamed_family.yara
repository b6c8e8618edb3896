// A rule without family metadata: its name names the family.
rule trickbot
{
    strings:
        $m = "WS-TRICK-TEST"
    condition:
        $m
}
