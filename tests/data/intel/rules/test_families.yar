// Test rules written for wormsign's tests. They match marker strings the tests write
// into files they create; they detect no real malware.
rule WS_Test_Emotet_Marker
{
    meta:
        family = "Emotet"
        description = "wormsign test: the Emotet marker string"
    strings:
        $m = "WORMSIGN-TEST-EMOTET-LOADER" ascii wide
    condition:
        $m
}

rule WS_Test_Qakbot_Marker
{
    meta:
        family = "QakBot"
    strings:
        $m = { 57 53 2D 51 41 4B 2D 54 45 53 54 }  // "WS-QAK-TEST"
    condition:
        $m at 0
}
